package ublox

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/modem"
)

// ublox is the u-blox SARA-R4/R5 socket set (AT-MODEMS.md §1.7): the
// module assigns socket ids (AT+USOCR), asynchronous connect (+UUSOCO),
// binary write after the "@" prompt (50 ms guard), +UUSORD and AT+USORD.
type ublox struct{}

// Name is the dialect's name: the driver is "at.ublox".
const Name = "ublox"

func init() { modem.MustRegister(New) }

// New returns the dialect, for [modem.Register] (which init has done).
func New() modem.Dialect { return &ublox{} }

func (*ublox) Traits() modem.Traits {
	return modem.Traits{
		Name:     Name,
		Identify: []string{"u-blox", "ublox", "sara-"},
		Cellular: true,
		Banners:  []string{"+UUSTARTUP", "RDY"},
		NULBoot:  true,
		Limits: modem.Limits{
			Sockets: 7, ModuleIDs: true, MaxSend: 1024, MaxRead: 1024,
			Conformance: map[string]string{
				"D01": "u-blox sends at most 1024 bytes in one datagram (AT+USOWR/USOST), the suite sends 1200",
				"S03": "1 MiB in 1024-byte writes, each after the 50 ms the module wants after its \"@\" prompt, takes about a minute: longer than the suite's bound",
				"S15": "nettest's BasicIO moves 1 MiB: as S03",
			},
		},
	}
}

func (*ublox) URCs(m *modem.Modem) []at.URC {
	return []at.URC{
		{Prefix: "+UUSORD:", Line: func(line string) int {
			if id, ok := at.ArgInt(at.SplitArgs(line, "+UUSORD"), 0); ok {
				m.Readable(id)
			}
			return 0
		}},
		{Prefix: "+UUSORF:", Line: func(line string) int {
			if id, ok := at.ArgInt(at.SplitArgs(line, "+UUSORF"), 0); ok {
				m.Readable(id)
			}
			return 0
		}},
		{Prefix: "+UUSOCL:", Line: func(line string) int {
			if id, ok := at.ArgInt(at.SplitArgs(line, "+UUSOCL"), 0); ok {
				m.RemoteClosed(id, nil)
			}
			return 0
		}},
		{Prefix: "+UUPSDD:", Line: func(string) int {
			m.Log().Warn("at: the network deactivated the data context; sockets are gone")
			m.BearerLost(fmt.Errorf("%w: the network deactivated the data context (+UUPSDD)", driver.ErrBadConn))
			return 0
		}},
		// Only here to end the header where the quoted data starts; the
		// pending AT+USORD takes the line.
		{Prefix: "+USORD:", HeaderEnd: '"', Line: func(string) int { return 0 }},
	}
}

// ubloxContextUp reports whether context 1 is active (AT+CGACT?); an
// unanswered query counts as up, so that it sends no dial into a bring-up.
func ubloxContextUp(ctx context.Context, m *modem.Modem) bool {
	r, err := m.Do(ctx, at.Command{Text: "AT+CGACT?"})
	if err != nil {
		return true
	}
	for _, l := range r.Lines {
		if a := at.SplitArgs(l, "+CGACT"); len(a) >= 2 && a[0] == "1" {
			return a[1] == "1"
		}
	}
	return false
}

func (*ublox) Attach(ctx context.Context, m *modem.Modem) error {
	c := m.Config()
	if _, err := m.Do(ctx, at.Command{Text: "AT+CGDCONT=1,\"IP\"," + at.Quote(c.APN)}); err != nil {
		return modem.AttachError("defining the data context (AT+CGDCONT)", err)
	}
	if r, err := m.Do(ctx, at.Command{Text: "AT+CGACT?"}); err == nil {
		for _, l := range r.Lines {
			if a := at.SplitArgs(l, "+CGACT"); len(a) >= 2 && a[0] == "1" && a[1] == "1" {
				return nil
			}
		}
	}
	// The credentials go in while the context is defined and not active:
	// the module refuses AT+UAUTHREQ for an active context, and sends them
	// (as PCO) when AT+CGACT activates it.
	if c.User != "" || c.Password != "" {
		if _, err := m.Do(ctx, at.Command{Text: uauthreq(modelOf(ctx, m), c), Secret: true}); err != nil {
			return modem.AttachError("setting the APN user and password (AT+UAUTHREQ)", err)
		}
	}
	if _, err := m.Do(ctx, at.Command{Text: "AT+CGACT=1,1", Timeout: 150 * time.Second}); err != nil {
		if authRefused(err) {
			msg := "the network refused the data context's authentication: set the APN's \"user\" and \"password\" (the operator gives them)"
			if c.User != "" || c.Password != "" {
				msg = "the network refused the APN's \"user\"/\"password\" when activating the data context (AT+CGACT): check them"
			}
			return &modem.SetupError{Kind: modem.ErrAttach, Msg: msg, Err: err}
		}
		return modem.AttachError("activating the data context (AT+CGACT=1,1)", err)
	}
	return nil
}

// uauthreq is the command that sets context 1's APN credentials:
// AT+UAUTHREQ=<cid>,<auth_type>,<username>,<password> (u-blox SARA-R5 AT
// commands manual UBX-19047455, and the SARA-R4 manual UBX-17003787,
// "+UAUTHREQ"), with auth_type 0 none, 1 PAP, 2 CHAP, 3 automatic
// (none, then PAP, then CHAP): [modem.Config.AuthType] gives 3. SARA-R4
// firmware takes the two strings the other way round, password first,
// although the R4 manual (revision R09) shows the R5's order: u-blox's own
// ubxlib (u_cell_net.c, setAuthenticationMode: "For SARA-R4 and LARA-R6
// modules the parameters are reversed") and Arduino's MKRNB library for
// the SARA-R410M send them so. A model that cannot be read gets the
// manual's order.
func uauthreq(model string, c modem.Config) string {
	first, second := c.User, c.Password
	if m := strings.ToLower(model); strings.Contains(m, "sara-r4") || strings.Contains(m, "lara-r6") {
		first, second = c.Password, c.User
	}
	return fmt.Sprintf("AT+UAUTHREQ=1,%d,%s,%s", c.AuthType(), at.Quote(first), at.Quote(second))
}

// modelOf reads the module's model (AT+CGMM), "" when it does not say.
// The modem reads it too, but hands it out only once the bring-up that
// calls Attach is done.
func modelOf(ctx context.Context, m *modem.Modem) string {
	r, err := m.Do(ctx, at.Command{Text: "AT+CGMM", Prefix: "-"})
	if err != nil {
		return ""
	}
	for _, l := range r.Lines {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// authRefused reports an activation the network refused for its
// credentials: +CME ERROR: 149, "PDP authentication failure" (3GPP TS
// 27.007 §9.2.3, errors related to a failure to activate a context; the
// SM/ESM cause #29 "user authentication failed" of TS 24.008/24.301 that
// the network sends), or that text when AT+CMEE=2.
func authRefused(err error) bool {
	var cme *at.CMEError
	if !errors.As(err, &cme) {
		return false
	}
	return cme.Code == 149 || (cme.Code < 0 && strings.Contains(strings.ToLower(cme.Text), "authentication"))
}

// soErr maps a u-blox socket error (Linux errno numbering).
func soErr(code int) error {
	switch code {
	case 111:
		return fmt.Errorf("%w: connection refused (111)", driver.ErrRefused)
	case 101, 110, 113:
		return fmt.Errorf("%w: network unreachable or timed out (%d)", driver.ErrUnreachable, code)
	}
	return fmt.Errorf("%w: the connection failed (socket error %d)", driver.ErrRefused, code)
}

func (*ublox) Open(ctx context.Context, m *modem.Modem, s *modem.Socket, host string, port int) error {
	ip := host
	if _, err := netip.ParseAddr(host); err != nil {
		r, err := m.Do(ctx, at.Command{Text: "AT+UDNSRN=0," + at.Quote(host), Timeout: 70 * time.Second})
		if err != nil {
			if errors.Is(err, at.ErrError) || errors.As(err, new(*at.CMEError)) {
				return fmt.Errorf("%w: the module could not resolve %q: %w", driver.ErrUnreachable, host, err)
			}
			return err
		}
		ip = ""
		for _, l := range r.Lines {
			if a := at.SplitArgs(l, "+UDNSRN"); len(a) > 0 && ip == "" {
				ip = a[0]
			}
		}
		if ip == "" {
			return fmt.Errorf("%w: the module returned no address for %q", driver.ErrUnreachable, host)
		}
	}
	proto := "6"
	if s.Transport() == driver.Datagram {
		proto = "17"
	}
	r, err := m.Do(ctx, at.Command{Text: "AT+USOCR=" + proto})
	if err != nil {
		if errors.As(err, new(*at.CMEError)) {
			// Either the data context is down (SARA-R4 reports a
			// network-side deactivation with no URC the driver
			// enables) or all seven sockets are taken by a previous
			// session: the dial brings the context up again, or sweeps
			// the sockets, and tries once more.
			if !ubloxContextUp(ctx, m) {
				return fmt.Errorf("%w: %w: creating a socket: %w", modem.ErrBearerDown, driver.ErrUnreachable, err)
			}
			return fmt.Errorf("%w: creating a socket (the modem may have none free): %w", modem.ErrInUse, err)
		}
		return fmt.Errorf("creating a socket: %w", err)
	}
	id := -1
	for _, l := range r.Lines {
		if v, ok := at.ArgInt(at.SplitArgs(l, "+USOCR"), 0); ok {
			id = v
		}
	}
	if id < 0 {
		return fmt.Errorf("creating a socket: no +USOCR id in the answer")
	}
	if err := m.Bind(s, id); err != nil {
		return err
	}
	sid := strconv.Itoa(id)
	if s.Transport() == driver.Datagram {
		// A UDP "connect" only sets the peer of AT+USOWR; it answers at
		// once and sends no +UUSOCO.
		if _, err := m.Do(ctx, at.Command{Text: fmt.Sprintf("AT+USOCO=%d,%s,%d", id, at.Quote(ip), port)}); err != nil {
			cctx, cancel := context.WithTimeout(m.Context(), 30*time.Second)
			defer cancel()
			_, _ = m.Do(cctx, at.Command{Text: "AT+USOCL=" + sid, Timeout: 30 * time.Second})
			return fmt.Errorf("%w: setting the UDP peer: %w", driver.ErrUnreachable, err)
		}
		return nil
	}
	r, err = m.Do(ctx, at.Command{Text: fmt.Sprintf("AT+USOCO=%d,%s,%d,1", id, at.Quote(ip), port), Await: func(l string) bool {
		a := at.SplitArgs(l, "+UUSOCO")
		return strings.HasPrefix(l, "+UUSOCO") && len(a) >= 2 && a[0] == sid
	}, AwaitTimeout: 120 * time.Second})
	if err == nil {
		code, ok := at.ArgInt(at.SplitArgs(r.Result, "+UUSOCO"), 1)
		if ok && code == 0 {
			return nil
		}
		err = soErr(code)
	} else if errors.Is(err, at.ErrTimeout) {
		err = fmt.Errorf("%w: no +UUSOCO result: %w", driver.ErrUnreachable, err)
	}
	cctx, cancel := context.WithTimeout(m.Context(), 30*time.Second)
	defer cancel()
	_, _ = m.Do(cctx, at.Command{Text: "AT+USOCL=" + sid, Timeout: 30 * time.Second})
	return err
}

func (*ublox) Send(ctx context.Context, m *modem.Modem, s *modem.Socket, p []byte) (int, error) {
	r, err := m.Do(ctx, at.Command{Text: fmt.Sprintf("AT+USOWR=%d,%d", s.ID(), len(p)), Payload: p, PromptDelay: 50 * time.Millisecond})
	var cme *at.CMEError
	switch {
	case errors.As(err, &cme) && cme.Code == 11:
		return 0, modem.ErrSendFull
	case errors.Is(err, at.ErrError) || errors.As(err, &cme):
		return 0, fmt.Errorf("%w: the modem refused to send (the socket is down): %w", driver.ErrReset, err)
	case err != nil:
		return 0, err
	}
	for _, l := range r.Lines {
		if n, ok := at.ArgInt(at.SplitArgs(l, "+USOWR"), 1); ok {
			if n == 0 {
				return 0, modem.ErrSendFull
			}
			return min(n, len(p)), nil
		}
	}
	return len(p), nil
}

func (*ublox) Recv(ctx context.Context, m *modem.Modem, s *modem.Socket, limit int) ([]byte, bool, error) {
	r, err := m.Do(ctx, at.Command{
		Text: fmt.Sprintf("AT+USORD=%d,%d", s.ID(), limit),
		Raw: func(line string) int {
			if !strings.HasPrefix(line, "+USORD") || !strings.HasSuffix(line, `"`) {
				return 0
			}
			return max(at.LenHeader(line, "+USORD", 1), 0)
		},
	})
	if err != nil {
		var cme *at.CMEError
		if errors.Is(err, at.ErrError) || errors.As(err, &cme) {
			return nil, false, nil // the socket is gone: nothing more to read
		}
		return nil, false, err
	}
	return r.Data, len(r.Data) == limit, nil
}

func (*ublox) Close(ctx context.Context, m *modem.Modem, id int) error {
	// Synchronous: an asynchronous close would send +UUSOCL later, which
	// could reach a new socket given the same id.
	_, err := m.Do(ctx, at.Command{Text: "AT+USOCL=" + strconv.Itoa(id), Timeout: 30 * time.Second})
	var cme *at.CMEError
	if errors.Is(err, at.ErrError) || errors.As(err, &cme) {
		return nil // already closed
	}
	return err
}

// held asks each socket for its type (AT+USOCTL=<s>,0: "+USOCTL:
// <s>,0,6|17"), which only a socket in use answers; SARA-R4/R5 have no
// command that lists them (SARA-R4 AT manual UBX-17003787, +USOCTL).
func (u *ublox) Held(ctx context.Context, m *modem.Modem) ([]int, error) {
	var ids []int
	for id := range u.Traits().Limits.Sockets {
		r, err := m.Do(ctx, at.Command{Text: fmt.Sprintf("AT+USOCTL=%d,0", id)})
		var cme *at.CMEError
		switch {
		case errors.Is(err, at.ErrError) || errors.As(err, &cme):
			continue // not in use
		case err != nil:
			return nil, err
		}
		if held := modem.HeldIDs(r.Lines, "+USOCTL", 3); len(held) == 1 && held[0] == id {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (*ublox) Signal(ctx context.Context, m *modem.Modem) (driver.Signal, error) {
	return modem.CSQ(ctx, m)
}
