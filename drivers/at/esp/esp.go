package esp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/modem"
)

// esp is Espressif ESP-AT (v2+, and NonOS 1.x where it differs;
// AT-MODEMS.md §1.3): station mode, multi-link (CIPMUX=1) and passive
// receive (CIPRECVTYPE, or CIPRECVMODE on older firmware) with
// AT+CIPRECVDATA. When the firmware has no passive mode the module pushes
// "+IPD,<id>,<len>:<data>", which is handled too.
type esp struct {
	passive atomic.Bool
	perLink atomic.Bool  // CIPRECVTYPE is set per link
	sendMax atomic.Int32 // 8192 (v2+) or 2048 (1.x)
}

// Name is the dialect's name: the driver is "at.esp".
const Name = "esp"

func init() { modem.MustRegister(New) }

// New returns the dialect, for [modem.Register] (which init has done).
func New() modem.Dialect { return &esp{} }

// Traits' MaxSend is ESP-AT v2's 8192; Send sends at most 2048 of it on
// 1.x firmware, which it learns in Attach.
func (*esp) Traits() modem.Traits {
	return modem.Traits{
		Name:     Name,
		Identify: []string{"at version:", "espressif", "esp32", "esp8266"},
		LineEnd:  "\r\n",
		Finals:   []at.Final{{Text: "SEND OK"}, {Text: "SEND FAIL", Fail: true}, {Text: "FAIL", Fail: true}},
		Banners:  []string{"ready"},
		Limits:   modem.Limits{Sockets: 5, MaxSend: 8192, MaxRead: 2048},
	}
}

// maxSend is the largest send of the module's firmware.
func (e *esp) maxSend() int {
	if n := e.sendMax.Load(); n > 0 {
		return int(n)
	}
	return 2048
}

func (*esp) URCs(m *modem.Modem) []at.URC {
	var pushID int
	us := []at.URC{
		{
			// Passive: "+IPD,<id>,<len>" announces data. Active:
			// "+IPD,<id>,<len>:" is followed by the data at once.
			Prefix: "+IPD,", HeaderEnd: ':',
			Line: func(line string) int {
				a := at.SplitArgs(line, "+IPD")
				id, ok := at.ArgInt(a, 0)
				if !ok {
					return 0
				}
				if strings.HasSuffix(line, ":") {
					pushID = id
					return max(at.LenHeader(line, "+IPD", 1), 0)
				}
				m.Readable(id)
				return 0
			},
			Data: func(_ string, data []byte) { m.Pushed(pushID, data) },
		},
		// Only here to end the header line where the data starts; the
		// pending AT+CIPRECVDATA takes the line (its prefix matches).
		{Prefix: "+CIPRECVDATA:", HeaderEnd: ',', Line: func(string) int { return 0 }},
		{Prefix: "+CIPRECVDATA,", HeaderEnd: ':', Line: func(string) int { return 0 }},
		{Prefix: "WIFI DISCONNECT", Line: func(string) int {
			// Its links are gone; the next dial joins the network again
			// rather than fail at AT+CIPSTART.
			m.Log().Warn("at: the ESP module lost its Wi-Fi network; sockets are gone")
			m.BearerLost(fmt.Errorf("%w: the module lost its Wi-Fi network (WIFI DISCONNECT)", driver.ErrBadConn))
			return 0
		}},
	}
	for id := range 5 {
		us = append(us, at.URC{Prefix: strconv.Itoa(id) + ",CLOSED", Line: func(string) int {
			m.RemoteClosed(id, nil)
			return 0
		}})
	}
	return us
}

// espQuote quotes s for ESP-AT, which escapes '\', '"' and ',' with '\'.
func espQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `,`, `\,`)
	return `"` + r.Replace(s) + `"`
}

// cwjapErr maps the +CWJAP:<n> failure code.
func cwjapErr(code int, ssid string) string {
	switch code {
	case 1:
		return fmt.Sprintf("joining Wi-Fi %q timed out: check that the access point is in range and up", ssid)
	case 2:
		return fmt.Sprintf("Wi-Fi %q refused the password: check \"wifi_password\"", ssid)
	case 3:
		return fmt.Sprintf("no Wi-Fi network %q in range: check \"ssid\" (case matters) and the access point", ssid)
	}
	return fmt.Sprintf("joining Wi-Fi %q failed (code %d): check \"ssid\", \"wifi_password\" and the access point", ssid, code)
}

func (e *esp) Attach(ctx context.Context, m *modem.Modem) error {
	rev := m.Info().Revision
	if r, err := m.Do(ctx, at.Command{Text: "AT+GMR", Prefix: "-"}); err == nil {
		for _, l := range r.Lines {
			if v, ok := strings.CutPrefix(l, "AT version:"); ok {
				rev = strings.TrimSpace(v)
			}
		}
	}
	if strings.HasPrefix(rev, "1.") || strings.HasPrefix(rev, "0.") {
		e.sendMax.Store(2048)
	} else {
		e.sendMax.Store(8192)
	}
	if _, err := m.Do(ctx, at.Command{Text: "AT+CWMODE=1"}); err != nil {
		return &modem.SetupError{Kind: modem.ErrWiFi, Msg: "setting station mode (AT+CWMODE=1) failed: is this an ESP-AT module?", Err: err}
	}
	c := m.Config()
	if c.SSID != "" {
		var code atomic.Int32
		code.Store(-1)
		_, err := m.Do(ctx, at.Command{Text: "AT+CWJAP=" + espQuote(c.SSID) + "," + espQuote(c.WiFiPassword), Timeout: c.RegistrationWait(true), Secret: c.WiFiPassword != "",
			Raw: func(line string) int {
				if n, ok := at.ArgInt(at.SplitArgs(line, "+CWJAP"), 0); ok && strings.HasPrefix(line, "+CWJAP") {
					code.Store(int32(n))
				}
				return 0
			}})
		if err != nil {
			return &modem.SetupError{Kind: modem.ErrWiFi, Msg: cwjapErr(int(code.Load()), c.SSID), Err: err}
		}
	} else if r, err := m.Do(ctx, at.Command{Text: "AT+CWJAP?"}); err != nil || !hasPrefixLine(r.Lines, "+CWJAP") {
		return &modem.SetupError{Kind: modem.ErrWiFi, Msg: "the module is not on a Wi-Fi network and none is configured: set \"ssid\" and \"wifi_password\"", Err: err}
	}
	// CIPMUX can only be set while no link is open, and links survive a
	// host restart: close them all first, in multi-link mode (id 5 is
	// every link) and in single-link mode (no id).
	_, _ = m.Do(ctx, at.Command{Text: "AT+CIPCLOSE=5"})
	if _, err := m.Do(ctx, at.Command{Text: "AT+CIPMUX=1"}); err != nil {
		_, _ = m.Do(ctx, at.Command{Text: "AT+CIPCLOSE"})
		if _, err := m.Do(ctx, at.Command{Text: "AT+CIPMUX=1"}); err != nil {
			return &modem.SetupError{Kind: modem.ErrAttach, Msg: "enabling multiple links (AT+CIPMUX=1) failed: leave passthrough mode (AT+CIPMODE=0) on the module", Err: err}
		}
	}
	_, _ = m.Do(ctx, at.Command{Text: "AT+CIPDINFO=0"})
	e.passive.Store(false)
	e.perLink.Store(false)
	if _, err := m.Do(ctx, at.Command{Text: "AT+CIPRECVTYPE=5,1"}); err == nil {
		e.passive.Store(true)
		e.perLink.Store(true)
	} else if _, err := m.Do(ctx, at.Command{Text: "AT+CIPRECVMODE=1"}); err == nil {
		e.passive.Store(true)
	} else {
		m.Log().Warn("at: this ESP-AT firmware has no passive receive mode; data is pushed and may be lost when the host is slow")
	}
	return nil
}

// espJoined reports whether the module is on a Wi-Fi network (AT+CWJAP?
// answers "No AP" when not); an unanswered query counts as joined.
func espJoined(ctx context.Context, m *modem.Modem) bool {
	r, err := m.Do(ctx, at.Command{Text: "AT+CWJAP?"})
	return err != nil || hasPrefixLine(r.Lines, "+CWJAP")
}

func hasPrefixLine(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func (e *esp) Open(ctx context.Context, m *modem.Modem, s *modem.Socket, host string, port int) error {
	ip := host
	if _, err := netip.ParseAddr(host); err != nil {
		r, err := m.Do(ctx, at.Command{Text: "AT+CIPDOMAIN=" + espQuote(host), Timeout: 20 * time.Second})
		if err != nil {
			if errors.Is(err, at.ErrError) || errors.Is(err, at.ErrTimeout) {
				return fmt.Errorf("%w: the module could not resolve %q: %w", driver.ErrUnreachable, host, err)
			}
			return err
		}
		ip = ""
		for _, l := range r.Lines {
			if a := at.SplitArgs(l, "+CIPDOMAIN"); len(a) > 0 {
				ip = a[0]
			}
		}
		if ip == "" {
			return fmt.Errorf("%w: the module returned no address for %q", driver.ErrUnreachable, host)
		}
	}
	typ := "TCP"
	if s.Transport() == driver.Datagram {
		typ = "UDP"
	}
	id := strconv.Itoa(s.ID())
	var inUse atomic.Bool
	_, err := m.Do(ctx, at.Command{Text: fmt.Sprintf("AT+CIPSTART=%s,%s,%s,%d", id, at.Quote(typ), at.Quote(ip), port), Timeout: 20 * time.Second,
		Raw: func(line string) int {
			// "ALREADY CONNECTED" (v2+; "ALREADY CONNECT" on 1.x), then
			// ERROR: the link id is still open in the module.
			if strings.HasPrefix(line, "ALREADY CONNECT") {
				inUse.Store(true)
			}
			return 0
		}})
	if err != nil {
		if inUse.Load() && errors.Is(err, at.ErrError) {
			return fmt.Errorf("%w: link %s (ALREADY CONNECTED)", modem.ErrInUse, id)
		}
		if errors.Is(err, at.ErrError) {
			if !espJoined(ctx, m) {
				// The network went away and its WIFI DISCONNECT has not
				// been seen (yet): join it again and connect.
				return fmt.Errorf("%w: %w: the module is on no Wi-Fi network: %w", modem.ErrBearerDown, driver.ErrUnreachable, err)
			}
			return fmt.Errorf("%w: the module could not connect: %w", driver.ErrRefused, err)
		}
		return err
	}
	if e.perLink.Load() {
		_, _ = m.Do(ctx, at.Command{Text: "AT+CIPRECVTYPE=" + id + ",1"})
	}
	return nil
}

func (e *esp) Send(ctx context.Context, m *modem.Modem, s *modem.Socket, p []byte) (int, error) {
	p = p[:min(len(p), e.maxSend())]
	_, err := m.Do(ctx, at.Command{Text: fmt.Sprintf("AT+CIPSEND=%d,%d", s.ID(), len(p)), Payload: p, Prefix: "-"})
	var re *at.ResultError
	switch {
	case err == nil:
		return len(p), nil
	case errors.As(err, &re) && re.Line == "SEND FAIL":
		return 0, modem.ErrSendFull
	case errors.Is(err, at.ErrError):
		return 0, fmt.Errorf("%w: the module refused to send (the link is down): %w", driver.ErrReset, err)
	}
	return 0, err
}

func (e *esp) Recv(ctx context.Context, m *modem.Modem, s *modem.Socket, limit int) ([]byte, bool, error) {
	if !e.passive.Load() {
		return nil, false, nil
	}
	r, err := m.Do(ctx, at.Command{
		Text: fmt.Sprintf("AT+CIPRECVDATA=%d,%d", s.ID(), limit),
		Raw: func(line string) int {
			if !strings.HasPrefix(line, "+CIPRECVDATA") {
				return 0
			}
			return max(at.LenHeader(line, "+CIPRECVDATA", 0), 0)
		},
	})
	if errors.Is(err, at.ErrError) {
		return nil, false, nil // nothing buffered
	}
	if err != nil {
		return nil, false, err
	}
	return r.Data, len(r.Data) == limit, nil
}

func (*esp) Close(ctx context.Context, m *modem.Modem, id int) error {
	_, err := m.Do(ctx, at.Command{Text: "AT+CIPCLOSE=" + strconv.Itoa(id)})
	if errors.Is(err, at.ErrError) {
		return nil // already closed
	}
	return err
}

// held reads AT+CIPSTATE? ("+CIPSTATE:<link>,<type>,..." per link, ESP-AT
// v2 and later), or AT+CIPSTATUS (same lines as "+CIPSTATUS:", the only
// form before v2, deprecated since).
func (*esp) Held(ctx context.Context, m *modem.Modem) ([]int, error) {
	r, err := m.Do(ctx, at.Command{Text: "AT+CIPSTATE?"})
	if err == nil {
		return modem.HeldIDs(r.Lines, "+CIPSTATE", 2), nil
	}
	if !errors.Is(err, at.ErrError) {
		return nil, err
	}
	r, err = m.Do(ctx, at.Command{Text: "AT+CIPSTATUS"})
	if err != nil {
		return nil, err
	}
	return modem.HeldIDs(r.Lines, "+CIPSTATUS", 2), nil
}

func (*esp) Signal(ctx context.Context, m *modem.Modem) (driver.Signal, error) {
	r, err := m.Do(ctx, at.Command{Text: "AT+CWJAP?"})
	if err != nil {
		return driver.Signal{}, fmt.Errorf("at: signal: %w", err)
	}
	for _, l := range r.Lines {
		if rssi, ok := at.ArgInt(at.SplitArgs(l, "+CWJAP"), 3); ok {
			q := min(max((rssi+100)*2, 0), 100)
			return driver.Signal{RSSI: rssi, Quality: q, Technology: "Wi-Fi"}, nil
		}
	}
	return driver.Signal{Quality: -1, Technology: "Wi-Fi"}, fmt.Errorf("at: signal: the module is not on a Wi-Fi network")
}
