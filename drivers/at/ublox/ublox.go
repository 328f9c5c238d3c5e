package at

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// ublox is the u-blox SARA-R4/R5 socket set (AT-MODEMS.md §1.7): the
// module assigns socket ids (AT+USOCR), asynchronous connect (+UUSOCO),
// binary write after the "@" prompt (50 ms guard), +UUSORD and AT+USORD.
type ublox struct{}

func (*ublox) name() string      { return UBlox }
func (*ublox) lineEnd() string   { return "\r" }
func (*ublox) cellular() bool    { return true }
func (*ublox) banners() []string { return []string{"+UUSTARTUP", "RDY"} }
func (*ublox) nulBoot() bool     { return true }
func (*ublox) sockets() int      { return 7 }
func (*ublox) hostIDs() bool     { return false }
func (*ublox) maxSend() int      { return 1024 }
func (*ublox) maxRead() int      { return 1024 }
func (*ublox) finals() []Final   { return nil }

func (*ublox) urcs(m *Modem) []URC {
	return []URC{
		{Prefix: "+UUSORD:", Line: func(line string) int {
			if id, ok := argInt(splitArgs(line, "+UUSORD"), 0); ok {
				m.readable(id)
			}
			return 0
		}},
		{Prefix: "+UUSORF:", Line: func(line string) int {
			if id, ok := argInt(splitArgs(line, "+UUSORF"), 0); ok {
				m.readable(id)
			}
			return 0
		}},
		{Prefix: "+UUSOCL:", Line: func(line string) int {
			if id, ok := argInt(splitArgs(line, "+UUSOCL"), 0); ok {
				m.remoteClosed(id, nil)
			}
			return 0
		}},
		{Prefix: "+UUPSDD:", Line: func(string) int {
			m.log.Warn("at: the network deactivated the data context; sockets are gone")
			m.invalidate(fmt.Errorf("%w: the network deactivated the data context (+UUPSDD)", driver.ErrBadConn))
			return 0
		}},
		// Only here to end the header where the quoted data starts; the
		// pending AT+USORD takes the line.
		{Prefix: "+USORD:", HeaderEnd: '"', Line: func(string) int { return 0 }},
	}
}

// ubloxContextUp reports whether context 1 is active (AT+CGACT?); an
// unanswered query counts as up, so that it sends no dial into a bring-up.
func ubloxContextUp(ctx context.Context, m *Modem) bool {
	r, err := m.do(ctx, Command{Text: "AT+CGACT?"})
	if err != nil {
		return true
	}
	for _, l := range r.Lines {
		if a := splitArgs(l, "+CGACT"); len(a) >= 2 && a[0] == "1" {
			return a[1] == "1"
		}
	}
	return false
}

func (*ublox) attach(ctx context.Context, m *Modem) error {
	c := m.cfg
	if _, err := m.do(ctx, Command{Text: "AT+CGDCONT=1,\"IP\"," + quote(c.APN)}); err != nil {
		return attachErr("defining the data context (AT+CGDCONT)", err)
	}
	if r, err := m.do(ctx, Command{Text: "AT+CGACT?"}); err == nil {
		for _, l := range r.Lines {
			if a := splitArgs(l, "+CGACT"); len(a) >= 2 && a[0] == "1" && a[1] == "1" {
				return nil
			}
		}
	}
	if _, err := m.do(ctx, Command{Text: "AT+CGACT=1,1", Timeout: 150 * time.Second}); err != nil {
		return attachErr("activating the data context (AT+CGACT=1,1)", err)
	}
	return nil
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

func (*ublox) open(ctx context.Context, m *Modem, s *sockConn, host string, port int) error {
	ip := host
	if _, err := netip.ParseAddr(host); err != nil {
		r, err := m.do(ctx, Command{Text: "AT+UDNSRN=0," + quote(host), Timeout: 70 * time.Second})
		if err != nil {
			if errors.Is(err, ErrError) || errors.As(err, new(*CMEError)) {
				return fmt.Errorf("%w: the module could not resolve %q: %w", driver.ErrUnreachable, host, err)
			}
			return err
		}
		ip = ""
		for _, l := range r.Lines {
			if a := splitArgs(l, "+UDNSRN"); len(a) > 0 && ip == "" {
				ip = a[0]
			}
		}
		if ip == "" {
			return fmt.Errorf("%w: the module returned no address for %q", driver.ErrUnreachable, host)
		}
	}
	proto := "6"
	if s.transport == driver.Datagram {
		proto = "17"
	}
	r, err := m.do(ctx, Command{Text: "AT+USOCR=" + proto})
	if err != nil {
		if errors.As(err, new(*CMEError)) {
			// Either the data context is down (SARA-R4 reports a
			// network-side deactivation with no URC the driver
			// enables) or all seven sockets are taken by a previous
			// session: the dial brings the context up again, or sweeps
			// the sockets, and tries once more.
			if !ubloxContextUp(ctx, m) {
				return &bearerDownError{fmt.Errorf("%w: creating a socket: the data context is down: %w", driver.ErrUnreachable, err)}
			}
			return &inUseError{id: -1, msg: fmt.Sprintf("creating a socket (the modem may have none free): %v", err)}
		}
		return fmt.Errorf("creating a socket: %w", err)
	}
	id := -1
	for _, l := range r.Lines {
		if v, ok := argInt(splitArgs(l, "+USOCR"), 0); ok {
			id = v
		}
	}
	if id < 0 {
		return fmt.Errorf("creating a socket: no +USOCR id in the answer")
	}
	if err := m.bind(s, id); err != nil {
		return err
	}
	sid := strconv.Itoa(id)
	if s.transport == driver.Datagram {
		// A UDP "connect" only sets the peer of AT+USOWR; it answers at
		// once and sends no +UUSOCO.
		if _, err := m.do(ctx, Command{Text: fmt.Sprintf("AT+USOCO=%d,%s,%d", id, quote(ip), port)}); err != nil {
			cctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
			defer cancel()
			_, _ = m.do(cctx, Command{Text: "AT+USOCL=" + sid, Timeout: 30 * time.Second})
			return fmt.Errorf("%w: setting the UDP peer: %w", driver.ErrUnreachable, err)
		}
		return nil
	}
	r, err = m.do(ctx, Command{Text: fmt.Sprintf("AT+USOCO=%d,%s,%d,1", id, quote(ip), port), Await: func(l string) bool {
		a := splitArgs(l, "+UUSOCO")
		return strings.HasPrefix(l, "+UUSOCO") && len(a) >= 2 && a[0] == sid
	}, AwaitTimeout: 120 * time.Second})
	if err == nil {
		code, ok := argInt(splitArgs(r.Result, "+UUSOCO"), 1)
		if ok && code == 0 {
			return nil
		}
		err = soErr(code)
	} else if errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w: no +UUSOCO result: %w", driver.ErrUnreachable, err)
	}
	cctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
	defer cancel()
	_, _ = m.do(cctx, Command{Text: "AT+USOCL=" + sid, Timeout: 30 * time.Second})
	return err
}

func (*ublox) send(ctx context.Context, m *Modem, s *sockConn, p []byte) (int, error) {
	r, err := m.do(ctx, Command{Text: fmt.Sprintf("AT+USOWR=%d,%d", s.id, len(p)), Payload: p, PromptDelay: 50 * time.Millisecond})
	var cme *CMEError
	switch {
	case errors.As(err, &cme) && cme.Code == 11:
		return 0, errSendFull
	case errors.Is(err, ErrError) || errors.As(err, &cme):
		return 0, fmt.Errorf("%w: the modem refused to send (the socket is down): %w", driver.ErrReset, err)
	case err != nil:
		return 0, err
	}
	for _, l := range r.Lines {
		if n, ok := argInt(splitArgs(l, "+USOWR"), 1); ok {
			if n == 0 {
				return 0, errSendFull
			}
			return min(n, len(p)), nil
		}
	}
	return len(p), nil
}

func (*ublox) recv(ctx context.Context, m *Modem, s *sockConn, max int) ([]byte, bool, error) {
	r, err := m.do(ctx, Command{
		Text: fmt.Sprintf("AT+USORD=%d,%d", s.id, max),
		Raw: func(line string) int {
			if !strings.HasPrefix(line, "+USORD") || !strings.HasSuffix(line, `"`) {
				return 0
			}
			return max0(lenHeader(line, "+USORD", 1))
		},
	})
	if err != nil {
		var cme *CMEError
		if errors.Is(err, ErrError) || errors.As(err, &cme) {
			return nil, false, nil // the socket is gone: nothing more to read
		}
		return nil, false, err
	}
	return r.Data, len(r.Data) == max, nil
}

func (*ublox) closeID(ctx context.Context, m *Modem, id int) error {
	// Synchronous: an asynchronous close would send +UUSOCL later, which
	// could reach a new socket given the same id.
	_, err := m.do(ctx, Command{Text: "AT+USOCL=" + strconv.Itoa(id), Timeout: 30 * time.Second})
	var cme *CMEError
	if errors.Is(err, ErrError) || errors.As(err, &cme) {
		return nil // already closed
	}
	return err
}

// held asks each socket for its type (AT+USOCTL=<s>,0: "+USOCTL:
// <s>,0,6|17"), which only a socket in use answers; SARA-R4/R5 have no
// command that lists them (SARA-R4 AT manual UBX-17003787, +USOCTL).
func (u *ublox) held(ctx context.Context, m *Modem) ([]int, error) {
	var ids []int
	for id := range u.sockets() {
		r, err := m.do(ctx, Command{Text: fmt.Sprintf("AT+USOCTL=%d,0", id)})
		var cme *CMEError
		switch {
		case errors.Is(err, ErrError) || errors.As(err, &cme):
			continue // not in use
		case err != nil:
			return nil, err
		}
		if held := idsFrom(r.Lines, "+USOCTL", 3); len(held) == 1 && held[0] == id {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (*ublox) signal(ctx context.Context, m *Modem) (driver.Signal, error) { return csqSignal(ctx, m) }
