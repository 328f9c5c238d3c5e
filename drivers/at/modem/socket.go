package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/core/driver/deadline"
	"github.com/iotd/iotd/drivers/at"
)

// Socket is one socket inside the modem as a driver.Conn.
//
// Receive is pull mode: a URC marks the socket readable and Read asks the
// module for the data, so nothing is lost while the host is slow. Deadlines
// are honoured between modem commands; a command already on the wire runs
// to its end (bounded by the command timeout), because abandoning it would
// lose the data it carries.
type Socket struct {
	m         *Modem
	transport driver.Transport
	gen       int
	laddr     driver.Addr
	raddr     driver.Addr
	rdl, wdl  deadline.Timer
	rmu, wmu  sync.Mutex // one reader, one writer at a time

	mu       sync.Mutex // guards the fields below
	id       int
	buf      []byte   // stream data received, not yet read
	dgrams   [][]byte // datagrams received, not yet read
	readable bool     // the module may hold data for us
	eof      bool     // the peer closed
	reset    error    // the peer (or network) aborted, when eof
	fail     error    // the socket is gone (reboot, port)
	closed   bool
	wake     chan struct{} // closed and replaced on every state change
}

func newSock(m *Modem, t driver.Transport, address string, gen int) *Socket {
	proto := "tcp"
	if t == driver.Datagram {
		proto = "udp"
	}
	net := "at." + m.t.Name + "/" + proto
	return &Socket{
		m: m, transport: t, gen: gen,
		laddr:    driver.Addr{Net: net, Address: "modem"},
		raddr:    driver.Addr{Net: net, Address: address},
		readable: true, // a "recv" at.URC may have come before the socket was bound
		wake:     make(chan struct{}),
	}
}

// notifyLocked wakes every waiter; s.mu is held.
func (s *Socket) notifyLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

func (s *Socket) markReadable() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readable = true
	s.notifyLocked()
}

func (s *Socket) markEOF(reset error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.eof {
		s.eof, s.reset = true, reset
	}
	s.readable = true // drain what the module still holds
	s.notifyLocked()
}

func (s *Socket) push(data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.transport == driver.Datagram {
		s.dgrams = append(s.dgrams, data)
	} else {
		s.buf = append(s.buf, data...)
	}
	s.notifyLocked()
}

func (s *Socket) failWith(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail == nil {
		s.fail = err
	}
	s.notifyLocked()
}

func (s *Socket) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: s.raddr.Net, Source: s.laddr, Addr: s.raddr, Err: err}
}

func (s *Socket) idString() string { return strconv.Itoa(s.ID()) }

// ID is the socket's id in the module: chosen before Open, or given by
// [Modem.Bind] when the module assigns ids.
func (s *Socket) ID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Transport is driver.Stream (TCP) or driver.Datagram (UDP).
func (s *Socket) Transport() driver.Transport { return s.transport }

// Address is the "host:port" the socket was dialled to.
func (s *Socket) Address() string { return s.raddr.Address }

// Read implements net.Conn.
func (s *Socket) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for {
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			return 0, s.opErr("read", net.ErrClosed)
		case s.transport == driver.Stream && len(s.buf) > 0:
			n := copy(p, s.buf)
			s.buf = s.buf[n:]
			if len(s.buf) == 0 {
				s.buf = nil
			}
			s.mu.Unlock()
			return n, nil
		case s.transport == driver.Datagram && len(s.dgrams) > 0:
			d := s.dgrams[0]
			s.dgrams = s.dgrams[1:]
			s.mu.Unlock()
			n := copy(p, d)
			if n < len(d) {
				return n, s.opErr("read", fmt.Errorf("%w: %d-byte datagram, %d-byte buffer", driver.ErrShortBuffer, len(d), len(p)))
			}
			return n, nil
		case s.fail != nil:
			err := s.fail
			s.mu.Unlock()
			return 0, s.opErr("read", err)
		case s.rdl.Passed():
			s.mu.Unlock()
			return 0, s.opErr("read", os.ErrDeadlineExceeded)
		case s.transport == driver.Stream && len(p) == 0:
			s.mu.Unlock()
			return 0, nil
		case s.readable:
			s.readable = false
			eof := s.eof
			s.mu.Unlock()
			if err := s.pull(eof); err != nil {
				if errors.Is(err, at.ErrTimeout) && s.rdl.Passed() {
					// The modem did not answer in time and the caller's
					// deadline has passed meanwhile: that is what the
					// caller asked to hear. The data, if any, is pulled
					// by the next Read.
					s.mu.Lock()
					s.readable = true
					s.mu.Unlock()
					return 0, s.opErr("read", os.ErrDeadlineExceeded)
				}
				return 0, s.opErr("read", err)
			}
			continue
		case s.eof:
			err := s.reset
			s.mu.Unlock()
			if s.transport == driver.Datagram {
				// Datagram conns never end; the module forgot the socket.
				return 0, s.opErr("read", fmt.Errorf("%w: the modem closed the UDP socket", driver.ErrReset))
			}
			if err != nil {
				return 0, s.opErr("read", err)
			}
			return 0, io.EOF
		}
		wake := s.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-s.rdl.Done():
		}
	}
}

// pull asks the module for buffered data once.
func (s *Socket) pull(eof bool) error {
	data, more, err := s.m.d.Recv(s.m.ctx, s.m, s, s.m.t.Limits.MaxRead)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil || s.closed {
		return nil // reported by the loop
	}
	if err != nil {
		if eof {
			return nil // the module forgot the closed socket: drained
		}
		s.readable = true
		return fmt.Errorf("receive: %w", err)
	}
	// A read returns one datagram, so only an empty read says the
	// module's queue is drained (and its next "recv" URC will come).
	if more || (s.transport == driver.Datagram && len(data) > 0) {
		s.readable = true
	}
	if len(data) > 0 {
		if s.transport == driver.Datagram {
			s.dgrams = append(s.dgrams, data)
		} else {
			s.buf = append(s.buf, data...)
		}
	}
	return nil
}

// Write implements net.Conn. A stream write is split into the module's
// per-command limit; a datagram write is one send.
func (s *Socket) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	max := s.MaxPayload()
	if s.transport == driver.Datagram && len(p) > max {
		if err := s.writable(); err != nil {
			return 0, s.opErr("write", err)
		}
		return 0, s.opErr("write", fmt.Errorf("%w: %d bytes, the modem sends at most %d in one datagram", driver.ErrTooLarge, len(p), max))
	}
	off := 0
	backoff := 10 * time.Millisecond
	for off < len(p) || (len(p) == 0 && off == 0) {
		if err := s.writable(); err != nil {
			return off, s.opErr("write", err)
		}
		if len(p) == 0 {
			return 0, nil
		}
		chunk := p[off:min(len(p), off+max)]
		n, err := s.m.d.Send(s.m.ctx, s.m, s, chunk)
		off += n
		if errors.Is(err, ErrSendFull) {
			// The module's buffer is full: wait for it to drain.
			s.mu.Lock()
			wake := s.wake
			s.mu.Unlock()
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-wake:
			case <-s.wdl.Done():
			}
			t.Stop()
			backoff = min(2*backoff, 200*time.Millisecond)
			continue
		}
		if err != nil {
			if e := s.writable(); e != nil {
				return off, s.opErr("write", e)
			}
			return off, s.opErr("write", err)
		}
		backoff = 10 * time.Millisecond
	}
	return off, nil
}

// writable reports why nothing more may be written, or nil.
func (s *Socket) writable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return net.ErrClosed
	case s.fail != nil:
		return s.fail
	case s.wdl.Passed():
		return os.ErrDeadlineExceeded
	case s.eof && s.transport == driver.Stream:
		return fmt.Errorf("%w: the peer closed the connection", driver.ErrReset)
	}
	return nil
}

// Close closes the module's socket and unblocks pending calls.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.opErr("close", net.ErrClosed)
	}
	s.closed = true
	failed := s.fail != nil
	s.notifyLocked()
	s.mu.Unlock()
	s.rdl.Stop()
	s.wdl.Stop()
	if failed {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.m.ctx, 30*time.Second)
	defer cancel()
	err := s.m.d.Close(ctx, s.m, s.id)
	s.m.unbind(s)
	if err != nil && s.m.alive() == nil {
		return s.opErr("close", err)
	}
	return nil
}

func (s *Socket) LocalAddr() net.Addr  { return s.laddr }
func (s *Socket) RemoteAddr() net.Addr { return s.raddr }

func (s *Socket) SetDeadline(t time.Time) error {
	s.rdl.Set(t)
	s.wdl.Set(t)
	return nil
}
func (s *Socket) SetReadDeadline(t time.Time) error  { s.rdl.Set(t); return nil }
func (s *Socket) SetWriteDeadline(t time.Time) error { s.wdl.Set(t); return nil }

// MaxPayload is the largest payload of one send command; for a datagram
// socket also no more than one read returns, so datagrams stay whole.
func (s *Socket) MaxPayload() int {
	if s.transport == driver.Datagram {
		return min(s.m.t.Limits.MaxSend, s.m.t.Limits.MaxRead)
	}
	return s.m.t.Limits.MaxSend
}

// Signal reports the modem's radio link quality.
func (s *Socket) Signal(ctx context.Context) (driver.Signal, error) { return s.m.Signal(ctx) }

// Version is the modem's firmware revision.
func (s *Socket) Version() string { return s.m.Info().Revision }

var (
	_ driver.Conn           = (*Socket)(nil)
	_ driver.MaxPayloader   = (*Socket)(nil)
	_ driver.SignalReporter = (*Socket)(nil)
	_ driver.Versioner      = (*Socket)(nil)
)

// Dial opens a socket through the modem, bringing it up first if needed.
// address is "host:port"; host may be a name, which the module resolves.
func (m *Modem) Dial(ctx context.Context, t driver.Transport, address string) (driver.Conn, error) {
	name := "at." + m.t.Name
	if t != driver.Stream && t != driver.Datagram {
		return nil, fmt.Errorf("%s: dial %s: %w: transport %q", name, address, driver.ErrNotSupported, t)
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("%s: dial %s: %w", name, address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("%s: dial %s: port %q is not a number in 1..65535", name, address, portStr)
	}
	if host == "" || !at.CheckArg(host) || len(host) > 255 {
		return nil, fmt.Errorf("%s: dial %s: %w: the host name cannot be sent to the modem", name, address, driver.ErrUnreachable)
	}
	up := func() error {
		err := m.up(ctx)
		var se *SetupError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &se) && (errors.Is(err, ErrNotRegistered) || errors.Is(err, ErrNoSignal) || errors.Is(err, ErrWiFi) || errors.Is(err, ErrAttach)):
			return fmt.Errorf("%s: dial %s: %w: %w", name, address, driver.ErrUnreachable, err)
		}
		return fmt.Errorf("%s: dial %s: %w", name, address, err)
	}
	if err := up(); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		s := newSock(m, t, address, m.generation())
		var err error
		if !m.t.Limits.ModuleIDs {
			var id int
			if id, err = m.freeID(); err != nil {
				return nil, fmt.Errorf("%s: dial %s: %w", name, address, err)
			}
			err = m.Bind(s, id)
		}
		if err == nil {
			err = m.d.Open(ctx, m, s, host, port)
		}
		if err == nil {
			s.laddr.Address = "modem socket " + s.idString()
			return s, nil
		}
		m.unbind(s)
		// A socket id left over from before (stale.go), or a reboot
		// during the dial: free the id or bring the modem up again, and
		// open once more.
		if attempt > 0 || !m.retryDial(ctx, s, err) {
			return nil, fmt.Errorf("%s: dial %s: %w", name, address, err)
		}
		if err := up(); err != nil {
			return nil, err
		}
	}
}
