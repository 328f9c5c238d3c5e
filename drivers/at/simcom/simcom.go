package at

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
)

// simcom is the SIMCom SIM7500/SIM7600 TCP/IP set (AT-MODEMS.md §1.5):
// NETOPEN, two-phase CIPOPEN and CIPSEND, and manual receive
// (AT+CIPRXGET=1, then AT+CIPRXGET=2 reads).
type simcom struct{}

func (*simcom) name() string      { return SIMCom }
func (*simcom) lineEnd() string   { return "\r" }
func (*simcom) cellular() bool    { return true }
func (*simcom) banners() []string { return []string{"RDY"} }
func (*simcom) nulBoot() bool     { return false }
func (*simcom) sockets() int      { return 10 }
func (*simcom) hostIDs() bool     { return true }
func (*simcom) maxSend() int      { return 1500 }
func (*simcom) maxRead() int      { return 1500 }
func (*simcom) finals() []Final   { return nil }

func (*simcom) urcs(m *Modem) []URC {
	readable := func(line string) int {
		if id, ok := argInt(splitArgs(line, "+CIPRXGET"), 1); ok {
			m.readable(id)
		}
		return 0
	}
	var pushID int
	return []URC{
		{Prefix: "+CIPRXGET: 1", Line: readable},
		{Prefix: "+CIPRXGET:1", Line: readable},
		{Prefix: "+IPCLOSE:", Line: func(line string) int {
			a := splitArgs(line, "+IPCLOSE")
			id, ok := argInt(a, 0)
			if !ok {
				return 0
			}
			var reset error
			if reason, _ := argInt(a, 1); reason == 2 {
				reset = fmt.Errorf("%w: the modem closed the link after a send timeout", driver.ErrReset)
			}
			m.remoteClosed(id, reset)
			return 0
		}},
		{Prefix: "+CIPEVENT:", Line: func(line string) int {
			if strings.Contains(line, "NETWORK CLOSED") {
				m.log.Warn("at: the network closed the data connection; sockets are gone")
				m.invalidate(fmt.Errorf("%w: the network closed the data connection (+CIPEVENT)", driver.ErrBadConn))
			}
			return 0
		}},
		{
			// Push mode with HeaderType 1, should the module use it.
			Prefix: "+RECEIVE,",
			Line: func(line string) int {
				a := splitArgs(line, "+RECEIVE")
				id, ok := argInt(a, 0)
				if !ok {
					return 0
				}
				pushID = id
				return max0(lenHeader(line, "+RECEIVE", 1))
			},
			Data: func(_ string, data []byte) { m.pushed(pushID, data) },
		},
	}
}

func (*simcom) attach(ctx context.Context, m *Modem) error {
	c := m.cfg
	if _, err := m.do(ctx, Command{Text: "AT+CGDCONT=1,\"IP\"," + quote(c.APN)}); err != nil {
		return attachErr("defining the data context (AT+CGDCONT)", err)
	}
	if c.User != "" || c.Password != "" {
		if _, err := m.do(ctx, Command{Text: fmt.Sprintf("AT+CGAUTH=1,%d,%s,%s", pdpAuth(c), quote(c.Password), quote(c.User))}); err != nil {
			return attachErr("setting the APN user and password (AT+CGAUTH)", err)
		}
	}
	if r, err := m.do(ctx, Command{Text: "AT+NETOPEN?"}); err == nil {
		for _, l := range r.Lines {
			if v, ok := argInt(splitArgs(l, "+NETOPEN"), 0); ok && v == 1 {
				return nil
			}
		}
	}
	_, _ = m.do(ctx, Command{Text: "AT+CIPMODE=0"})
	if _, err := m.do(ctx, Command{Text: "AT+CIPRXGET=1"}); err != nil {
		return attachErr("selecting manual receive (AT+CIPRXGET=1)", err)
	}
	r, err := m.do(ctx, Command{Text: "AT+NETOPEN", Await: func(l string) bool { return strings.HasPrefix(l, "+NETOPEN") }, AwaitTimeout: 120 * time.Second})
	if err != nil {
		return attachErr("opening the network (AT+NETOPEN)", err)
	}
	if v, ok := argInt(splitArgs(r.Result, "+NETOPEN"), 0); !ok || v != 0 {
		return attachErr("opening the network (AT+NETOPEN)", fmt.Errorf("%s", r.Result))
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

func (*simcom) open(ctx context.Context, m *Modem, s *sockConn, host string, port int) error {
	id := strconv.Itoa(s.id)
	text := fmt.Sprintf("AT+CIPOPEN=%s,\"TCP\",%s,%d", id, quote(host), port)
	if s.transport == driver.Datagram {
		text = fmt.Sprintf("AT+CIPOPEN=%s,\"UDP\",,,0", id)
	}
	r, err := m.do(ctx, Command{Text: text, Await: func(l string) bool {
		return simcomResult(l, "+CIPOPEN", id)
	}, AwaitTimeout: 120 * time.Second})
	if err != nil {
		if errors.Is(err, ErrTimeout) {
			return fmt.Errorf("%w: no +CIPOPEN result: %w", driver.ErrUnreachable, err)
		}
		return err
	}
	code, ok := argInt(splitArgs(r.Result, "+CIPOPEN"), 1)
	switch {
	case ok && code == 0:
		return nil
	case ok && code == 2:
		// "network not opened": the network closed under us without a
		// +CIPEVENT the dial saw. Open it again and the link.
		return &bearerDownError{cipErr(code)}
	case ok && code == cipLinkInUse:
		// The link id is still open in the modem, left by a previous
		// owner of the port (iotd or a plugin that crashed): the modem
		// survives us, its links do too.
		return &inUseError{id: s.id, msg: fmt.Sprintf("the modem still holds link %s (+CIPOPEN: %s,4)", id, id)}
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
	a := splitArgs(line, name)
	_, isNum := argInt(a, 1)
	return len(a) == 2 && a[0] == id && isNum
}

// cipLinkInUse is +CIPOPEN's "operation not allowed: link in use".
const cipLinkInUse = 4

func (*simcom) send(ctx context.Context, m *Modem, s *sockConn, p []byte) (int, error) {
	id := strconv.Itoa(s.id)
	text := fmt.Sprintf("AT+CIPSEND=%s,%d", id, len(p))
	if s.transport == driver.Datagram {
		host, port, _ := net.SplitHostPort(s.raddr.Address)
		text += "," + quote(host) + "," + port
	}
	r, err := m.do(ctx, Command{Text: text, Payload: p, Prefix: "-", Await: func(l string) bool {
		a := splitArgs(l, "+CIPSEND")
		return strings.HasPrefix(l, "+CIPSEND") && len(a) >= 3 && a[0] == id
	}})
	if err != nil {
		if errors.Is(err, ErrError) {
			return 0, fmt.Errorf("%w: the modem refused to send (the link is down): %w", driver.ErrReset, err)
		}
		return 0, err
	}
	a := splitArgs(r.Result, "+CIPSEND")
	cnf, ok := argInt(a, 2)
	switch {
	case !ok || cnf < 0:
		return 0, fmt.Errorf("at: unexpected send result %q", r.Result)
	case cnf == 0:
		return 0, errSendFull
	}
	return min(cnf, len(p)), nil
}

func (*simcom) recv(ctx context.Context, m *Modem, s *sockConn, max int) ([]byte, bool, error) {
	var rest atomic.Int64
	r, err := m.do(ctx, Command{
		Text:   fmt.Sprintf("AT+CIPRXGET=2,%d,%d", s.id, max),
		Prefix: "-", // "+CIPRXGET: 1,<id>" notifications go to their URC
		Raw: func(line string) int {
			a := splitArgs(line, "+CIPRXGET")
			if !strings.HasPrefix(line, "+CIPRXGET") || len(a) < 4 || a[0] != "2" {
				return 0
			}
			if v, ok := argInt(a, 3); ok {
				rest.Store(int64(v))
			}
			return max0(lenHeader(line, "+CIPRXGET", 2))
		},
	})
	if errors.Is(err, ErrError) {
		return nil, false, nil // nothing buffered
	}
	if err != nil {
		return nil, false, err
	}
	return r.Data, rest.Load() > 0, nil
}

func (*simcom) closeID(ctx context.Context, m *Modem, n int) error {
	id := strconv.Itoa(n)
	_, err := m.do(ctx, Command{Text: "AT+CIPCLOSE=" + id, Await: func(l string) bool {
		return simcomResult(l, "+CIPCLOSE", id)
	}, AwaitTimeout: 15 * time.Second})
	if errors.Is(err, ErrError) {
		return nil // already closed by the peer
	}
	return err
}

// held reads AT+CIPOPEN?, one line per link: "+CIPOPEN: <link>" when it is
// free, followed by its type, address and port when it is taken.
func (*simcom) held(ctx context.Context, m *Modem) ([]int, error) {
	r, err := m.do(ctx, Command{Text: "AT+CIPOPEN?"})
	if err != nil {
		return nil, err
	}
	return idsFrom(r.Lines, "+CIPOPEN", 2), nil
}

func (*simcom) signal(ctx context.Context, m *Modem) (driver.Signal, error) { return csqSignal(ctx, m) }
