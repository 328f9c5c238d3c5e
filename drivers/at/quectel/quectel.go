package at

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// quectel is the QI TCP/IP stack of Quectel BG96/BG95/EC2x/EG25
// (AT-MODEMS.md §1.4): context 1, buffer access mode (pull with AT+QIRD),
// fixed-length AT+QISEND.
type quectel struct{}

const qContext = 1

func (*quectel) name() string      { return Quectel }
func (*quectel) lineEnd() string   { return "\r" }
func (*quectel) cellular() bool    { return true }
func (*quectel) banners() []string { return []string{"RDY"} }
func (*quectel) nulBoot() bool     { return false }
func (*quectel) sockets() int      { return 12 }
func (*quectel) hostIDs() bool     { return true }
func (*quectel) maxSend() int      { return 1460 }
func (*quectel) maxRead() int      { return 1500 }

func (*quectel) finals() []Final {
	return []Final{{Text: "SEND OK"}, {Text: "SEND FAIL", Fail: true}}
}

func (*quectel) urcs(m *Modem) []URC {
	var pushID int
	return []URC{{
		Prefix: "+QIURC:",
		Line: func(line string) int {
			a := splitArgs(line, "+QIURC")
			if len(a) < 2 {
				return 0
			}
			id, ok := argInt(a, 1)
			switch a[0] {
			case "recv":
				if !ok {
					return 0
				}
				if n, ok := argInt(a, 2); ok && n > 0 {
					// Direct push mode: the data follows.
					pushID = id
					return n
				}
				m.readable(id)
			case "closed":
				if ok {
					m.remoteClosed(id, nil)
				}
			case "pdpdeact":
				m.log.Warn("at: the network deactivated the data context; sockets are gone")
				m.invalidate(fmt.Errorf("%w: the network deactivated the data context (+QIURC: \"pdpdeact\")", driver.ErrBadConn))
			}
			return 0
		},
		Data: func(_ string, data []byte) { m.pushed(pushID, data) },
	}}
}

func (*quectel) attach(ctx context.Context, m *Modem) error {
	c := m.cfg
	ctxArg := strconv.Itoa(qContext)
	if _, err := m.do(ctx, Command{Text: fmt.Sprintf("AT+QICSGP=%d,1,%s,%s,%s,%d", qContext, quote(c.APN), quote(c.User), quote(c.Password), pdpAuth(c))}); err != nil {
		return attachErr("configuring the data context (AT+QICSGP)", err)
	}
	if r, err := m.do(ctx, Command{Text: "AT+QIACT?"}); err == nil {
		for _, l := range r.Lines {
			if a := splitArgs(l, "+QIACT"); len(a) >= 2 && a[0] == ctxArg && a[1] == "1" {
				return nil
			}
		}
	}
	if _, err := m.do(ctx, Command{Text: "AT+QIACT=" + ctxArg, Timeout: 150 * time.Second}); err != nil {
		return attachErr("activating the data context (AT+QIACT)", err)
	}
	return nil
}

// qiErr maps a +QIOPEN error code to a sentinel and a text.
func qiErr(code int) error {
	switch code {
	case 565:
		return fmt.Errorf("%w: the modem could not resolve the host name (565)", driver.ErrUnreachable)
	case 566:
		return fmt.Errorf("%w: the connection failed (566)", driver.ErrRefused)
	case 561, 570, 573:
		return fmt.Errorf("%w: the data context is down (%d)", driver.ErrUnreachable, code)
	case 569:
		return fmt.Errorf("%w: the connection timed out (569)", driver.ErrUnreachable)
	}
	return fmt.Errorf("open failed with error %d", code)
}

func (q *quectel) open(ctx context.Context, m *Modem, s *sockConn, host string, port int) error {
	svc := "TCP"
	if s.transport == driver.Datagram {
		svc = "UDP"
	}
	id := s.id
	idArg := strconv.Itoa(id)
	r, err := m.do(ctx, Command{
		Text: fmt.Sprintf("AT+QIOPEN=%d,%d,%s,%s,%d,0,0", qContext, id, quote(svc), quote(host), port),
		Await: func(line string) bool {
			a := splitArgs(line, "+QIOPEN")
			return strings.HasPrefix(line, "+QIOPEN") && len(a) >= 2 && a[0] == idArg
		},
		AwaitTimeout: 150 * time.Second,
	})
	if err == nil {
		code, ok := argInt(splitArgs(r.Result, "+QIOPEN"), 1)
		switch {
		case ok && code == 0:
			return nil
		case ok && code == qiInUse:
			return &inUseError{id: id, msg: fmt.Sprintf("the modem still holds socket %d (+QIOPEN: %d,563)", id, id)}
		case ok && (code == 561 || code == 570):
			// The context is gone (PDP open failed, PDP broken) though
			// no "pdpdeact" said so: bring it up and open again. The id
			// is freed first, as after any failed open.
			err = &bearerDownError{qiErr(code)}
		default:
			err = qiErr(code)
		}
	} else if errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w: no +QIOPEN result: %w", driver.ErrUnreachable, err)
	}
	// Free the id: Quectel keeps it after a failed or abandoned open.
	cctx, cancel := context.WithTimeout(m.ctx, 15*time.Second)
	defer cancel()
	_, _ = m.do(cctx, Command{Text: "AT+QICLOSE=" + idArg, Timeout: 12 * time.Second})
	return err
}

func (*quectel) send(ctx context.Context, m *Modem, s *sockConn, p []byte) (int, error) {
	_, err := m.do(ctx, Command{Text: fmt.Sprintf("AT+QISEND=%d,%d", s.id, len(p)), Payload: p})
	var re *ResultError
	switch {
	case err == nil:
		return len(p), nil
	case errors.As(err, &re) && re.Line == "SEND FAIL":
		return 0, errSendFull
	case errors.Is(err, ErrError):
		return 0, fmt.Errorf("%w: the modem refused to send (the link is down): %w", driver.ErrReset, err)
	}
	return 0, err
}

func (*quectel) recv(ctx context.Context, m *Modem, s *sockConn, max int) ([]byte, bool, error) {
	r, err := m.do(ctx, Command{
		Text: fmt.Sprintf("AT+QIRD=%d,%d", s.id, max),
		Raw: func(line string) int {
			if !strings.HasPrefix(line, "+QIRD") {
				return 0
			}
			return max0(lenHeader(line, "+QIRD", 0))
		},
	})
	if err != nil {
		return nil, false, err
	}
	return r.Data, len(r.Data) == max, nil
}

// qiInUse is +QIOPEN's "socket identity has been used".
const qiInUse = 563

func (*quectel) closeID(ctx context.Context, m *Modem, id int) error {
	// The AT port is blocked until the close completes, at most the
	// default <timeout> of 10 s (BG96 TCP/IP Application Note, 2.2.5).
	_, err := m.do(ctx, Command{Text: "AT+QICLOSE=" + strconv.Itoa(id), Timeout: 12 * time.Second})
	return err
}

// held reads AT+QISTATE?, which lists every existing connection, whatever
// its state, one "+QISTATE: <connectID>,..." line each (BG96 TCP/IP
// Application Note, 2.2.6).
func (*quectel) held(ctx context.Context, m *Modem) ([]int, error) {
	r, err := m.do(ctx, Command{Text: "AT+QISTATE?"})
	if err != nil {
		return nil, err
	}
	return idsFrom(r.Lines, "+QISTATE", 2), nil
}

func (*quectel) signal(ctx context.Context, m *Modem) (driver.Signal, error) {
	return csqSignal(ctx, m)
}

func max0(n int) int { return max(n, 0) }
