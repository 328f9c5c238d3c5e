package simcom

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/modem"
)

// simcom is the SIMCom SIM7500/SIM7600 TCP/IP set (AT-MODEMS.md §1.5):
// NETOPEN, two-phase CIPOPEN and CIPSEND, and manual receive
// (AT+CIPRXGET=1, then AT+CIPRXGET=2 reads).
type simcom struct{}

// Name is the dialect's name: the driver is "at.simcom".
const Name = "simcom"

func init() { modem.MustRegister(New) }

// New returns the dialect, for [modem.Register] (which init has done).
func New() modem.Dialect { return &simcom{} }

func (*simcom) Traits() modem.Traits {
	return modem.Traits{
		Name:     Name,
		Identify: []string{"simcom", "sim7600", "sim7500"},
		Cellular: true,
		Banners:  []string{"RDY"},
		Limits:   modem.Limits{Sockets: 10, MaxSend: 1500, MaxRead: 1500},
	}
}

func (*simcom) URCs(m *modem.Modem) []at.URC {
	readable := func(line string) int {
		if id, ok := at.ArgInt(at.SplitArgs(line, "+CIPRXGET"), 1); ok {
			m.Readable(id)
		}
		return 0
	}
	var pushID int
	return []at.URC{
		{Prefix: "+CIPRXGET: 1", Line: readable},
		{Prefix: "+CIPRXGET:1", Line: readable},
		{Prefix: "+IPCLOSE:", Line: func(line string) int {
			a := at.SplitArgs(line, "+IPCLOSE")
			id, ok := at.ArgInt(a, 0)
			if !ok {
				return 0
			}
			var reset error
			if reason, _ := at.ArgInt(a, 1); reason == 2 {
				reset = fmt.Errorf("%w: the modem closed the link after a send timeout", driver.ErrReset)
			}
			m.RemoteClosed(id, reset)
			return 0
		}},
		{Prefix: "+CIPEVENT:", Line: func(line string) int {
			if strings.Contains(line, "NETWORK CLOSED") {
				m.Log().Warn("at: the network closed the data connection; sockets are gone")
				m.BearerLost(fmt.Errorf("%w: the network closed the data connection (+CIPEVENT)", driver.ErrBadConn))
			}
			return 0
		}},
		{
			// Push mode with HeaderType 1, should the module use it.
			Prefix: "+RECEIVE,",
			Line: func(line string) int {
				a := at.SplitArgs(line, "+RECEIVE")
				id, ok := at.ArgInt(a, 0)
				if !ok {
					return 0
				}
				pushID = id
				return max(at.LenHeader(line, "+RECEIVE", 1), 0)
			},
			Data: func(_ string, data []byte) { m.Pushed(pushID, data) },
		},
	}
}

func (*simcom) Attach(ctx context.Context, m *modem.Modem) error {
	c := m.Config()
	if _, err := m.Do(ctx, at.Command{Text: "AT+CGDCONT=1,\"IP\"," + at.Quote(c.APN)}); err != nil {
		return modem.AttachError("defining the data context (AT+CGDCONT)", err)
	}
	if c.User != "" || c.Password != "" {
		if _, err := m.Do(ctx, at.Command{Text: fmt.Sprintf("AT+CGAUTH=1,%d,%s,%s", c.AuthType(), at.Quote(c.Password), at.Quote(c.User)), Secret: true}); err != nil {
			return modem.AttachError("setting the APN user and password (AT+CGAUTH)", err)
		}
	}
	if r, err := m.Do(ctx, at.Command{Text: "AT+NETOPEN?"}); err == nil {
		for _, l := range r.Lines {
			if v, ok := at.ArgInt(at.SplitArgs(l, "+NETOPEN"), 0); ok && v == 1 {
				return nil
			}
		}
	}
	_, _ = m.Do(ctx, at.Command{Text: "AT+CIPMODE=0"})
	if _, err := m.Do(ctx, at.Command{Text: "AT+CIPRXGET=1"}); err != nil {
		return modem.AttachError("selecting manual receive (AT+CIPRXGET=1)", err)
	}
	r, err := m.Do(ctx, at.Command{Text: "AT+NETOPEN", Await: func(l string) bool { return strings.HasPrefix(l, "+NETOPEN") }, AwaitTimeout: 120 * time.Second})
	if err != nil {
		return modem.AttachError("opening the network (AT+NETOPEN)", err)
	}
	if v, ok := at.ArgInt(at.SplitArgs(r.Result, "+NETOPEN"), 0); !ok || v != 0 {
		return modem.AttachError("opening the network (AT+NETOPEN)", fmt.Errorf("%s", r.Result))
	}
	return nil
}

func cipErr(code int) error {
	switch code {
	case 11:
		return fmt.Errorf("%w: the modem could not resolve the host name (11)", driver.ErrUnreachable)
	case 2, 10:
		return fmt.Errorf("%w: network not open or timeout (%d)", driver.ErrUnreachable, code)
	case cipLinkInUse:
		return fmt.Errorf("at: the modem's link is still in use (4)")
	case 1:
		// SIM7600 reports a refused connect as its generic code 1.
		return fmt.Errorf("%w: the connection failed (1: network failure)", driver.ErrRefused)
	}
	return fmt.Errorf("%w: the connection failed (%d)", driver.ErrRefused, code)
}

func (*simcom) Open(ctx context.Context, m *modem.Modem, s *modem.Socket, host string, port int) error {
	id := strconv.Itoa(s.ID())
	text := fmt.Sprintf("AT+CIPOPEN=%s,\"TCP\",%s,%d", id, at.Quote(host), port)
	if s.Transport() == driver.Datagram {
		text = fmt.Sprintf("AT+CIPOPEN=%s,\"UDP\",,,0", id)
	}
	r, err := m.Do(ctx, at.Command{Text: text, Await: func(l string) bool {
		return simcomResult(l, "+CIPOPEN", id)
	}, AwaitTimeout: 120 * time.Second})
	if err != nil {
		if errors.Is(err, at.ErrTimeout) {
			return fmt.Errorf("%w: no +CIPOPEN result: %w", driver.ErrUnreachable, err)
		}
		return err
	}
	code, ok := at.ArgInt(at.SplitArgs(r.Result, "+CIPOPEN"), 1)
	switch {
	case ok && code == 0:
		return nil
	case ok && code == 2:
		// "network not opened": the network closed under us without a
		// +CIPEVENT the dial saw. Open it again and the link.
		return fmt.Errorf("%w: %w", modem.ErrBearerDown, cipErr(code))
	case ok && code == cipLinkInUse:
		// The link id is still open in the modem, left by a previous
		// owner of the port (iotd or a plugin that crashed): the modem
		// survives us, its links do too.
		return fmt.Errorf("%w: link %s (+CIPOPEN: %s,4)", modem.ErrInUse, id, id)
	}
	return cipErr(code)
}

// simcomResult reports whether line is the result URC "<name>: <id>,<err>"
// of link id: exactly two numbers, unlike the lines of the read commands
// (AT+CIPOPEN? answers "+CIPOPEN: 0,"TCP","1.2.3.4",80,-1"), which a
// sweep may be reading while a dial awaits its result.
func simcomResult(line, name, id string) bool {
	if !strings.HasPrefix(line, name) {
		return false
	}
	a := at.SplitArgs(line, name)
	_, isNum := at.ArgInt(a, 1)
	return len(a) == 2 && a[0] == id && isNum
}

// cipLinkInUse is +CIPOPEN's "operation not allowed: link in use".
const cipLinkInUse = 4

func (*simcom) Send(ctx context.Context, m *modem.Modem, s *modem.Socket, p []byte) (int, error) {
	id := strconv.Itoa(s.ID())
	text := fmt.Sprintf("AT+CIPSEND=%s,%d", id, len(p))
	if s.Transport() == driver.Datagram {
		host, port, _ := net.SplitHostPort(s.Address())
		text += "," + at.Quote(host) + "," + port
	}
	r, err := m.Do(ctx, at.Command{Text: text, Payload: p, Prefix: "-", Await: func(l string) bool {
		a := at.SplitArgs(l, "+CIPSEND")
		return strings.HasPrefix(l, "+CIPSEND") && len(a) >= 3 && a[0] == id
	}})
	if err != nil {
		if errors.Is(err, at.ErrError) {
			return 0, fmt.Errorf("%w: the modem refused to send (the link is down): %w", driver.ErrReset, err)
		}
		return 0, err
	}
	a := at.SplitArgs(r.Result, "+CIPSEND")
	cnf, ok := at.ArgInt(a, 2)
	switch {
	case !ok || cnf < 0:
		return 0, fmt.Errorf("at: unexpected send result %q", r.Result)
	case cnf == 0:
		return 0, modem.ErrSendFull
	}
	return min(cnf, len(p)), nil
}

func (*simcom) Recv(ctx context.Context, m *modem.Modem, s *modem.Socket, limit int) ([]byte, bool, error) {
	var rest atomic.Int64
	r, err := m.Do(ctx, at.Command{
		Text:   fmt.Sprintf("AT+CIPRXGET=2,%d,%d", s.ID(), limit),
		Prefix: "-", // "+CIPRXGET: 1,<id>" notifications go to their at.URC
		Raw: func(line string) int {
			a := at.SplitArgs(line, "+CIPRXGET")
			if !strings.HasPrefix(line, "+CIPRXGET") || len(a) < 4 || a[0] != "2" {
				return 0
			}
			if v, ok := at.ArgInt(a, 3); ok {
				rest.Store(int64(v))
			}
			return max(at.LenHeader(line, "+CIPRXGET", 2), 0)
		},
	})
	if errors.Is(err, at.ErrError) {
		return nil, false, nil // nothing buffered
	}
	if err != nil {
		return nil, false, err
	}
	return r.Data, rest.Load() > 0, nil
}

func (*simcom) Close(ctx context.Context, m *modem.Modem, n int) error {
	id := strconv.Itoa(n)
	_, err := m.Do(ctx, at.Command{Text: "AT+CIPCLOSE=" + id, Await: func(l string) bool {
		return simcomResult(l, "+CIPCLOSE", id)
	}, AwaitTimeout: 15 * time.Second})
	if errors.Is(err, at.ErrError) {
		return nil // already closed by the peer
	}
	return err
}

// held reads AT+CIPOPEN?, one line per link: "+CIPOPEN: <link>" when it is
// free, followed by its type, address and port when it is taken.
func (*simcom) Held(ctx context.Context, m *modem.Modem) ([]int, error) {
	r, err := m.Do(ctx, at.Command{Text: "AT+CIPOPEN?"})
	if err != nil {
		return nil, err
	}
	return modem.HeldIDs(r.Lines, "+CIPOPEN", 2), nil
}

func (*simcom) Signal(ctx context.Context, m *modem.Modem) (driver.Signal, error) {
	return modem.CSQ(ctx, m)
}
