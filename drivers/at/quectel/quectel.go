package quectel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/modem"
)

// quectel is the QI TCP/IP stack of Quectel BG96/BG95/EC2x/EG25
// (AT-MODEMS.md §1.4): context 1, buffer access mode (pull with AT+QIRD),
// fixed-length AT+QISEND.
type quectel struct{}

const qContext = 1

// Name is the dialect's name: the driver is "at.quectel".
const Name = "quectel"

func init() { modem.MustRegister(New) }

// New returns the dialect, for [modem.Register] (which init has done).
func New() modem.Dialect { return &quectel{} }

func (*quectel) Traits() modem.Traits {
	return modem.Traits{
		Name:     Name,
		Identify: []string{"quectel"},
		Finals:   []at.Final{{Text: "SEND OK"}, {Text: "SEND FAIL", Fail: true}},
		Cellular: true,
		Banners:  []string{"RDY"},
		Limits:   modem.Limits{Sockets: 12, MaxSend: 1460, MaxRead: 1500},
	}
}

func (*quectel) URCs(m *modem.Modem) []at.URC {
	var pushID int
	return []at.URC{{
		Prefix: "+QIURC:",
		Line: func(line string) int {
			a := at.SplitArgs(line, "+QIURC")
			if len(a) < 2 {
				return 0
			}
			id, ok := at.ArgInt(a, 1)
			switch a[0] {
			case "recv":
				if !ok {
					return 0
				}
				if n, ok := at.ArgInt(a, 2); ok && n > 0 {
					// Direct push mode: the data follows.
					pushID = id
					return n
				}
				m.Readable(id)
			case "closed":
				if ok {
					m.RemoteClosed(id, nil)
				}
			case "pdpdeact":
				m.Log().Warn("at: the network deactivated the data context; sockets are gone")
				m.BearerLost(fmt.Errorf("%w: the network deactivated the data context (+QIURC: \"pdpdeact\")", driver.ErrBadConn))
			}
			return 0
		},
		Data: func(_ string, data []byte) { m.Pushed(pushID, data) },
	}}
}

func (*quectel) Attach(ctx context.Context, m *modem.Modem) error {
	c := m.Config()
	ctxArg := strconv.Itoa(qContext)
	if _, err := m.Do(ctx, at.Command{Text: fmt.Sprintf("AT+QICSGP=%d,1,%s,%s,%s,%d", qContext, at.Quote(c.APN), at.Quote(c.User), at.Quote(c.Password), c.AuthType()), Secret: c.Password != ""}); err != nil {
		return modem.AttachError("configuring the data context (AT+QICSGP)", err)
	}
	if r, err := m.Do(ctx, at.Command{Text: "AT+QIACT?"}); err == nil {
		for _, l := range r.Lines {
			if a := at.SplitArgs(l, "+QIACT"); len(a) >= 2 && a[0] == ctxArg && a[1] == "1" {
				return nil
			}
		}
	}
	if _, err := m.Do(ctx, at.Command{Text: "AT+QIACT=" + ctxArg, Timeout: 150 * time.Second}); err != nil {
		return modem.AttachError("activating the data context (AT+QIACT)", err)
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

func (q *quectel) Open(ctx context.Context, m *modem.Modem, s *modem.Socket, host string, port int) error {
	svc := "TCP"
	if s.Transport() == driver.Datagram {
		svc = "UDP"
	}
	id := s.ID()
	idArg := strconv.Itoa(id)
	r, err := m.Do(ctx, at.Command{
		Text: fmt.Sprintf("AT+QIOPEN=%d,%d,%s,%s,%d,0,0", qContext, id, at.Quote(svc), at.Quote(host), port),
		Await: func(line string) bool {
			a := at.SplitArgs(line, "+QIOPEN")
			return strings.HasPrefix(line, "+QIOPEN") && len(a) >= 2 && a[0] == idArg
		},
		AwaitTimeout: 150 * time.Second,
	})
	if err == nil {
		code, ok := at.ArgInt(at.SplitArgs(r.Result, "+QIOPEN"), 1)
		switch {
		case ok && code == 0:
			return nil
		case ok && code == qiInUse:
			return fmt.Errorf("%w: socket %d (+QIOPEN: %d,563)", modem.ErrInUse, id, id)
		case ok && (code == 561 || code == 570):
			// The context is gone (PDP open failed, PDP broken) though
			// no "pdpdeact" said so: bring it up and open again. The id
			// is freed first, as after any failed open.
			err = fmt.Errorf("%w: %w", modem.ErrBearerDown, qiErr(code))
		default:
			err = qiErr(code)
		}
	} else if errors.Is(err, at.ErrTimeout) {
		err = fmt.Errorf("%w: no +QIOPEN result: %w", driver.ErrUnreachable, err)
	}
	// Free the id: Quectel keeps it after a failed or abandoned open.
	cctx, cancel := context.WithTimeout(m.Context(), 15*time.Second)
	defer cancel()
	_, _ = m.Do(cctx, at.Command{Text: "AT+QICLOSE=" + idArg, Timeout: 12 * time.Second})
	return err
}

func (*quectel) Send(ctx context.Context, m *modem.Modem, s *modem.Socket, p []byte) (int, error) {
	_, err := m.Do(ctx, at.Command{Text: fmt.Sprintf("AT+QISEND=%d,%d", s.ID(), len(p)), Payload: p})
	var re *at.ResultError
	switch {
	case err == nil:
		return len(p), nil
	case errors.As(err, &re) && re.Line == "SEND FAIL":
		return 0, modem.ErrSendFull
	case errors.Is(err, at.ErrError):
		return 0, fmt.Errorf("%w: the modem refused to send (the link is down): %w", driver.ErrReset, err)
	}
	return 0, err
}

func (*quectel) Recv(ctx context.Context, m *modem.Modem, s *modem.Socket, limit int) ([]byte, bool, error) {
	r, err := m.Do(ctx, at.Command{
		Text: fmt.Sprintf("AT+QIRD=%d,%d", s.ID(), limit),
		Raw: func(line string) int {
			if !strings.HasPrefix(line, "+QIRD") {
				return 0
			}
			return max(at.LenHeader(line, "+QIRD", 0), 0)
		},
	})
	if err != nil {
		return nil, false, err
	}
	return r.Data, len(r.Data) == limit, nil
}

// qiInUse is +QIOPEN's "socket identity has been used".
const qiInUse = 563

func (*quectel) Close(ctx context.Context, m *modem.Modem, id int) error {
	// The AT port is blocked until the close completes, at most the
	// default <timeout> of 10 s (BG96 TCP/IP Application Note, 2.2.5).
	_, err := m.Do(ctx, at.Command{Text: "AT+QICLOSE=" + strconv.Itoa(id), Timeout: 12 * time.Second})
	return err
}

// held reads AT+QISTATE?, which lists every existing connection, whatever
// its state, one "+QISTATE: <connectID>,..." line each (BG96 TCP/IP
// Application Note, 2.2.6).
func (*quectel) Held(ctx context.Context, m *modem.Modem) ([]int, error) {
	r, err := m.Do(ctx, at.Command{Text: "AT+QISTATE?"})
	if err != nil {
		return nil, err
	}
	return modem.HeldIDs(r.Lines, "+QISTATE", 2), nil
}

func (*quectel) Signal(ctx context.Context, m *modem.Modem) (driver.Signal, error) {
	return modem.CSQ(ctx, m)
}
