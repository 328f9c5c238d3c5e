package sim800

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/modem"
)

// Open connects with AT+CIPSTART=<n>,"TCP"|"UDP","<host>",<port>: OK at
// once, then "<n>, CONNECT OK", "<n>, CONNECT FAIL" or "<n>, ALREADY
// CONNECT" within 75 s.
func (sim800) Open(ctx context.Context, m *modem.Modem, s *modem.Socket, host string, port int) error {
	id := s.ID()
	proto := "TCP"
	if s.Transport() == driver.Datagram {
		proto = "UDP"
	}
	start := at.Command{
		Text:   fmt.Sprintf("AT+CIPSTART=%d,%s,%s,%d", id, at.Quote(proto), at.Quote(host), port),
		Prefix: "-",
		Await: func(l string) bool {
			n, text, ok := linkResult(l)
			return ok && n == id && (text == "CONNECT OK" || text == "CONNECT FAIL" || text == "ALREADY CONNECT")
		},
		AwaitTimeout: connectWait,
	}
	r, err := m.Do(ctx, start)
	if errors.Is(err, at.ErrError) {
		// AT+CIPSTART is refused outside IP STATUS: the context went
		// down without a "+PDP: DEACT" we saw (another program shut the
		// stack), or the stack stopped in IP GPRSACT. AT+CIFSR tells the
		// two apart and mends the second.
		if _, ipErr := localIP(ctx, m); ipErr != nil {
			return fmt.Errorf("%w: %w: AT+CIPSTART refused and AT+CIFSR finds no context: %w", modem.ErrBearerDown, driver.ErrUnreachable, ipErr)
		}
		r, err = m.Do(ctx, start)
	}
	if err != nil {
		if errors.As(err, new(*modem.RebootError)) {
			return err // the module forgot the connection with everything else
		}
		freeID(m, id)
		if errors.Is(err, at.ErrTimeout) {
			return fmt.Errorf("%w: no connect result: %w", driver.ErrUnreachable, err)
		}
		return err
	}
	_, text, _ := linkResult(r.Result)
	switch text {
	case "CONNECT OK":
		return nil
	case "ALREADY CONNECT":
		// The number is still taken, by a process that died or before a
		// reboot we did not see: the modem closes it and opens again.
		return fmt.Errorf("%w: connection %d (%s)", modem.ErrInUse, id, r.Result)
	}
	return connectFailed(ctx, m, host)
}

// connectFailed maps "<n>, CONNECT FAIL", which the module sends for a
// refused port, an unreachable host and a name that does not resolve
// alike: for a name, AT+CDNSGIP says whether it resolves.
func connectFailed(ctx context.Context, m *modem.Modem, host string) error {
	if _, err := netip.ParseAddr(host); err == nil {
		return fmt.Errorf("%w: the module could not connect (CONNECT FAIL)", driver.ErrRefused)
	}
	r, err := m.Do(ctx, at.Command{
		Text:         "AT+CDNSGIP=" + at.Quote(host),
		Await:        func(l string) bool { return strings.HasPrefix(l, "+CDNSGIP:") },
		AwaitTimeout: resolveTimeout,
	})
	if err == nil {
		if found, _ := at.ArgInt(at.SplitArgs(r.Result, "+CDNSGIP"), 0); found == 1 {
			return fmt.Errorf("%w: the module resolved %q but could not connect (CONNECT FAIL)", driver.ErrRefused, host)
		}
		return fmt.Errorf("%w: the module could not resolve %q (%s)", driver.ErrUnreachable, host, r.Result)
	}
	return fmt.Errorf("%w: the module could not connect to %q (CONNECT FAIL; AT+CDNSGIP: %w)", driver.ErrUnreachable, host, err)
}

// freeID closes connection id after an open that failed without a
// result: the module may still be connecting it, and a failed Open must
// leave the id free. It outlives the dial's context.
func freeID(m *modem.Modem, id int) {
	ctx, cancel := context.WithTimeout(m.Context(), closeTimeout)
	defer cancel()
	_ = closeLink(ctx, m, id)
}

// Send sends p with AT+CIPSEND=<n>,<len>: the "> " prompt, exactly len
// bytes, then "<n>, SEND OK". "<n>, SEND FAIL" is taken for a full
// buffer: the socket waits and sends again, and a connection that is
// really gone then answers ERROR (or said "<n>, CLOSED" meanwhile).
func (sim800) Send(ctx context.Context, m *modem.Modem, s *modem.Socket, p []byte) (int, error) {
	_, err := m.Do(ctx, at.Command{Text: fmt.Sprintf("AT+CIPSEND=%d,%d", s.ID(), len(p)), Prefix: "-", Payload: p})
	var re *at.ResultError
	switch {
	case err == nil:
		return len(p), nil
	case errors.As(err, &re):
		return 0, modem.ErrSendFull
	case errors.Is(err, at.ErrError):
		return 0, fmt.Errorf("%w: the module refused to send (the connection is down): %w", driver.ErrReset, err)
	}
	return 0, err
}

// Recv reads with AT+CIPRXGET=2,<n>,<max>: the header "+CIPRXGET:
// 2,<n>,<got>,<left>", got raw bytes, OK.
func (sim800) Recv(ctx context.Context, m *modem.Modem, s *modem.Socket, limit int) ([]byte, bool, error) {
	id := s.ID()
	var left atomic.Int64
	r, err := m.Do(ctx, at.Command{
		Text:   fmt.Sprintf("AT+CIPRXGET=2,%d,%d", id, min(limit, maxData)),
		Prefix: "-", // "+CIPRXGET: 1,<n>" goes to its at.URC
		Raw: func(line string) int {
			n, got, rest, ok := rxHeader(line)
			if !ok || n != id {
				return 0
			}
			left.Store(int64(rest))
			return got
		},
	})
	if errors.Is(err, at.ErrError) {
		// The number holds nothing: closed by the peer and drained.
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return r.Data, left.Load() > 0, nil
}

func (sim800) Close(ctx context.Context, m *modem.Modem, id int) error {
	return closeLink(ctx, m, id)
}

// closeLink closes connection id: AT+CIPCLOSE=<n> answers "<n>, CLOSE OK"
// (no OK), or ERROR when the number is not connected, which is no error
// here.
func closeLink(ctx context.Context, m *modem.Modem, id int) error {
	_, err := m.Do(ctx, at.Command{Text: "AT+CIPCLOSE=" + strconv.Itoa(id), Prefix: "-", Timeout: closeTimeout})
	if errors.Is(err, at.ErrError) {
		return nil
	}
	return err
}

// Held asks AT+CIPSTATUS=<n> for each number: the listing of the plain
// AT+CIPSTATUS comes after its OK, where the engine takes it for URCs. A
// number the peer closed shows CLOSED, like a free one; it is taken again
// by the next AT+CIPSTART, so it is not listed.
func (sim800) Held(ctx context.Context, m *modem.Modem) ([]int, error) {
	var ids []int
	for id := range links {
		r, err := m.Do(ctx, at.Command{Text: "AT+CIPSTATUS=" + strconv.Itoa(id)})
		if err != nil {
			return nil, err
		}
		for _, l := range r.Lines {
			switch st, _ := statusState(l, id); st {
			case "CONNECTING", "CONNECTED", "REMOTE CLOSING", "CLOSING":
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
}
