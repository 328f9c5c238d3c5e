package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

// maxDatagramErrors is how many datagram read errors in a row, with no
// datagram between them, end the read side: a datagram read error (an ICMP
// "port unreachable", say) is not final, but one that repeats for ever
// would otherwise spin.
const maxDatagramErrors = 64

// Conn serves one connection: the host's Dial, then the data both ways.
// Three goroutines share the stream: this one receives host frames (and
// applies deadlines and close at once), a writer performs writes in order,
// and a reader reads ahead as far as the host's credit allows.
func (s *server) Conn(stream pb.Plugin_ConnServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	dial := first.GetDial()
	if dial == nil {
		return errors.New("sdk: a connection stream must start with a Dial frame")
	}
	c, res := s.dial(ctx, dial)
	if c == nil {
		return stream.Send(&pb.PluginFrame{Frame: &pb.PluginFrame_DialResult{DialResult: res}})
	}
	id := s.addConn(c)
	defer s.dropConn(id)
	res.Conn = id
	p := &pump{
		conn:     c,
		stream:   stream,
		datagram: driver.Transport(dial.Transport) == driver.Datagram,
		credit:   wire.ReadWindow,
		more:     make(chan struct{}, 1),
		writes:   make(chan *pb.HostFrame, 2*wire.WriteWindow/wire.Chunk+8),
		done:     make(chan struct{}),
	}
	res.InitialCredit = p.credit
	if err := p.send(&pb.PluginFrame{Frame: &pb.PluginFrame_DialResult{DialResult: res}}); err != nil {
		_ = c.Close()
		return err
	}
	return p.run()
}

func (s *server) dial(ctx context.Context, d *pb.Dial) (driver.Conn, *pb.DialResult) {
	dl, err := s.dialer(d.Dialer)
	if err != nil {
		return nil, &pb.DialResult{Error: wire.EncodeError(err)}
	}
	if d.DeadlineUnixNano != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, d.DeadlineUnixNano))
		defer cancel()
	}
	c, err := dl.Dial(ctx, driver.Transport(d.Transport), d.Address)
	if err != nil {
		return nil, &pb.DialResult{Error: wire.EncodeError(err)}
	}
	if c == nil {
		return nil, &pb.DialResult{Error: wire.EncodeError(errors.New("sdk: Dial returned neither a Conn nor an error"))}
	}
	res := &pb.DialResult{Local: addr(c.LocalAddr()), Remote: addr(c.RemoteAddr())}
	if m, err := driver.Lookup[driver.MaxPayloader](c); err == nil {
		res.MaxPayload = int64(m.MaxPayload())
	}
	_, err = driver.Lookup[driver.SignalReporter](c)
	res.Signal = err == nil
	_, err = driver.Lookup[driver.Sleeper](c)
	res.Sleeper = err == nil
	return c, res
}

func addr(a net.Addr) *pb.Addr {
	if a == nil {
		return nil
	}
	return &pb.Addr{Network: a.Network(), Address: a.String()}
}

type pump struct {
	conn     driver.Conn
	stream   pb.Plugin_ConnServer
	datagram bool

	sendMu sync.Mutex // serialises stream.Send

	mu     sync.Mutex // guards credit
	credit int64
	more   chan struct{} // a token when credit grew

	writes chan *pb.HostFrame // Write and CloseWrite frames, in order
	done   chan struct{}      // closed when the pump ends
}

func (p *pump) send(f *pb.PluginFrame) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return p.stream.Send(f)
}

func (p *pump) run() error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.readLoop() }()
	go func() { defer wg.Done(); p.writeLoop() }()
	var closeErr error
	closed := false
	for !closed {
		f, err := p.stream.Recv()
		if err != nil {
			break // the host went away or cancelled: close below
		}
		switch fr := f.Frame.(type) {
		case *pb.HostFrame_Write, *pb.HostFrame_CloseWrite:
			select {
			case p.writes <- f:
			case <-p.stream.Context().Done():
			}
		case *pb.HostFrame_WriteDeadline:
			var t time.Time
			if fr.WriteDeadline.UnixNano != 0 {
				t = time.Unix(0, fr.WriteDeadline.UnixNano)
			}
			_ = p.conn.SetWriteDeadline(t)
		case *pb.HostFrame_Credit:
			p.mu.Lock()
			p.credit += fr.Credit.Bytes
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		case *pb.HostFrame_Close:
			closeErr = p.conn.Close()
			closed = true
		}
	}
	if !closed {
		_ = p.conn.Close()
	}
	close(p.done)
	wg.Wait()
	if closed {
		return p.send(&pb.PluginFrame{Frame: &pb.PluginFrame_Closed{Closed: &pb.Closed{Error: wire.EncodeError(closeErr)}}})
	}
	return nil
}

// readLoop reads ahead while the host has credit. On a stream conn the
// first error is final; on a datagram conn errors are passed on and reading
// goes on.
func (p *pump) readLoop() {
	size := wire.Chunk
	if p.datagram {
		size = wire.ReadBuffer
		if m, err := driver.Lookup[driver.MaxPayloader](p.conn); err == nil && m.MaxPayload() > size {
			size = min(m.MaxPayload(), wire.MaxDatagram)
		}
	}
	buf := make([]byte, size)
	errs := 0
	for {
		if !p.waitCredit() {
			return
		}
		n, err := p.conn.Read(buf)
		if n == 0 && err == nil {
			continue
		}
		select {
		case <-p.done:
			return // closed by the host: what this read returned is moot
		default:
		}
		final := err != nil && (!p.datagram || errors.Is(err, net.ErrClosed) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF))
		if err != nil && n == 0 && p.datagram && !final {
			if errs++; errs >= maxDatagramErrors {
				err = fmt.Errorf("sdk: %d datagram read errors in a row, the last: %w", errs, err)
				final = true
			}
		} else {
			errs = 0
		}
		cost := int64(n)
		if p.datagram {
			cost++
		}
		p.mu.Lock()
		p.credit -= cost
		p.mu.Unlock()
		data := &pb.Data{Data: buf[:n], Error: wire.EncodeError(err)}
		if sendErr := p.send(&pb.PluginFrame{Frame: &pb.PluginFrame_Data{Data: data}}); sendErr != nil || final {
			return
		}
	}
}

// waitCredit waits until the host may take more data; false once the
// pump ends.
func (p *pump) waitCredit() bool {
	for {
		p.mu.Lock()
		c := p.credit
		p.mu.Unlock()
		if c > 0 {
			return true
		}
		select {
		case <-p.more:
		case <-p.done:
			return false
		}
	}
}

// writeLoop performs the host's writes in order and acknowledges each op
// once: after its last chunk, or at its first error (the op's remaining
// chunks are then dropped).
func (p *pump) writeLoop() {
	var failed uint64
	var op uint64
	var total int64
	for {
		var f *pb.HostFrame
		select {
		case f = <-p.writes:
		case <-p.done:
			return
		}
		if f.GetCloseWrite() != nil {
			err := closeWrite(p.conn)
			if p.send(&pb.PluginFrame{Frame: &pb.PluginFrame_CloseWriteResult{CloseWriteResult: &pb.CloseWriteResult{Error: wire.EncodeError(err)}}}) != nil {
				return
			}
			continue
		}
		w := f.GetWrite()
		if w.Op == failed {
			continue
		}
		if w.Op != op {
			op, total = w.Op, 0
		}
		n, err := p.conn.Write(w.Data)
		total += int64(n)
		if err == nil && !w.Last {
			continue
		}
		if err != nil {
			failed = w.Op
		}
		ack := &pb.WriteAck{Op: w.Op, N: total, Error: wire.EncodeError(err)}
		if p.send(&pb.PluginFrame{Frame: &pb.PluginFrame_WriteAck{WriteAck: ack}}) != nil {
			return
		}
	}
}

func closeWrite(c driver.Conn) error {
	// Only the Conn itself: a CloseWrite found under a TLS layer would
	// half-close the TCP stream without the TLS close_notify.
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return fmt.Errorf("sdk: half-close: %w: the connection has no CloseWrite", driver.ErrNotSupported)
	}
	return cw.CloseWrite()
}
