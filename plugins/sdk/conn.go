package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

// maxDatagramErrors is how many datagram read errors in a row, with no
// datagram between them, end the read side: a datagram read error (an ICMP
// "port unreachable", say) is not final, but one that repeats for ever
// would otherwise spin.
const maxDatagramErrors = 64

// flushWait bounds how long Close lets the writer finish the data the
// host sent before it closes the Conn, as a kernel flushes a socket's
// buffer after close.
const flushWait = 2 * time.Second

// dataWait bounds the connect of a data channel.
const dataWait = 10 * time.Second

// Conn serves one connection: the host's Dial, then its Close. The data
// goes over channels of its own (see wire.ChannelRaw). On a stream, one
// goroutine copies the raw channel to the Conn, one the Conn to the raw
// channel, and one answers the half-close on the framed channel. On a
// datagram conn, one receives the host's frames (credit and deadlines
// applied at once, datagrams queued), a writer sends the queued datagrams
// in order, and a reader reads ahead as far as the host's credit allows.
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
	p := &pump{
		conn:     c,
		datagram: driver.Transport(dial.Transport) == driver.Datagram,
		credit:   wire.ReadWindow,
		window:   wire.WriteWindow,
		copyBuf:  wire.StreamFrame,
		more:     make(chan struct{}, 1),
		work:     make(chan struct{}, 1),
		idle:     make(chan struct{}, 1),
		rawDone:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	if !p.datagram && res.MaxPayload > 0 {
		// A driver that sends at most so much at a time (a modem) gets a
		// window of a few sends, so that what the host counts as written
		// is about what the driver is sending, and its write deadline
		// means what it would on the driver; the copy to the Conn then
		// holds one send, not 64 KiB.
		p.window = wire.StreamWindow(res.MaxPayload)
		p.copyBuf = int(min(res.MaxPayload, wire.StreamFrame))
	}
	p.data, err = openData(ctx, dial, wire.ChannelFramed)
	if err == nil && !p.datagram {
		var raw net.Conn
		if raw, err = openData(ctx, dial, wire.ChannelRaw); err == nil {
			p.raw = raw.(*net.UnixConn)
			_ = p.raw.SetWriteBuffer(wire.ReadWindow)
			// The host's send buffer is the write window; this end's
			// receive buffer adds to it where the kernel queues there
			// (not Linux's AF_UNIX streams, which charge the sender only).
			_ = p.raw.SetReadBuffer(int(p.window))
		}
	}
	if err != nil {
		p.closeChannels()
		_ = c.Close()
		err = fmt.Errorf("sdk: %w: data channel: %v", driver.ErrBadConn, err)
		return stream.Send(&pb.PluginFrame{Frame: &pb.PluginFrame_DialResult{DialResult: &pb.DialResult{Error: wire.EncodeError(err)}}})
	}
	id := s.addConn(c)
	defer s.dropConn(id)
	res.Conn = id
	res.InitialCredit, res.WriteWindow = p.credit, p.window
	if err := stream.Send(&pb.PluginFrame{Frame: &pb.PluginFrame_DialResult{DialResult: res}}); err != nil {
		_ = c.Close()
		p.closeChannels()
		return err
	}
	return p.run(stream)
}

// openData connects a channel of the connection the Dial names.
func openData(ctx context.Context, d *pb.Dial, kind byte) (net.Conn, error) {
	if d.DataSocket == "" || len(d.DataToken) != wire.TokenSize {
		return nil, errors.New("the host named no data channel")
	}
	ctx, cancel := context.WithTimeout(ctx, dataWait)
	defer cancel()
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "unix", d.DataSocket)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(append(d.DataToken[:wire.TokenSize:wire.TokenSize], kind)); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (p *pump) closeChannels() {
	if p.data != nil {
		_ = p.data.Close()
	}
	if p.raw != nil {
		_ = p.raw.Close()
	}
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
	data     net.Conn      // the framed channel
	raw      *net.UnixConn // a stream's raw channel
	datagram bool
	window   int64 // the write window granted (wire.StreamWindow)
	copyBuf  int   // the raw writer's buffer: one send of the Conn

	sendMu sync.Mutex // serialises frames on data

	mu      sync.Mutex    // guards the fields below
	credit  int64         // read credit
	queue   [][]byte      // datagrams the writer has yet to send
	busy    bool          // the writer is doing a batch
	inDone  bool          // the host's data has ended
	more    chan struct{} // a token when credit grew
	work    chan struct{} // a token when queue grew
	idle    chan struct{} // a token when the writer went idle or inDone was set
	rawDone chan struct{} // closed when the raw writer ended: at the channel's end, all written
	done    chan struct{} // closed when the pump ends
}

func (p *pump) send(t byte, b []byte) error {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	return wire.WriteFrame(p.data, t, b)
}

func (p *pump) sendMsg(t byte, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return p.send(t, b)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run serves the connection until the host closes it (the writer first
// finishes what the host sent, bounded by flushWait) or goes away.
func (p *pump) run(stream pb.Plugin_ConnServer) error {
	var wg sync.WaitGroup
	wg.Add(3)
	if p.datagram {
		go func() { defer wg.Done(); p.readLoop() }()
		go func() { defer wg.Done(); p.writeLoop() }()
	} else {
		go func() { defer wg.Done(); p.rawReadLoop() }()
		go func() { defer wg.Done(); p.rawWriteLoop() }()
	}
	go func() { defer wg.Done(); p.recvLoop() }()
	closed := false
	for !closed {
		f, err := stream.Recv()
		if err != nil {
			break // the host went away or cancelled: close below
		}
		closed = f.GetClose() != nil
	}
	if closed {
		p.flush()
	}
	closeErr := p.conn.Close()
	close(p.done)
	p.closeChannels()
	wg.Wait()
	if closed {
		return stream.Send(&pb.PluginFrame{Frame: &pb.PluginFrame_Closed{Closed: &pb.Closed{Error: wire.EncodeError(closeErr)}}})
	}
	return nil
}

// flush waits until the host's data has ended (it half-closes the data
// channel before it sends Close) and the writer has done all of it, for at
// most flushWait.
func (p *pump) flush() {
	t := time.NewTimer(flushWait)
	defer t.Stop()
	for {
		p.mu.Lock()
		drained := p.inDone && len(p.queue) == 0 && !p.busy
		p.mu.Unlock()
		if drained {
			return
		}
		select {
		case <-p.idle:
		case <-t.C:
			return
		}
	}
}

// recvLoop applies the host's frames: credit and deadlines at once, data
// and half-close queued for the writer (on a stream, the half-close once
// the raw channel's data is written).
func (p *pump) recvLoop() {
	if p.datagram {
		defer func() {
			p.mu.Lock()
			p.inDone = true
			p.mu.Unlock()
			signal(p.idle)
		}()
	}
	r := wire.NewFrameReader(p.data)
	for {
		t, b, err := r.Next()
		if err == nil {
			err = p.apply(t, b)
		}
		if err != nil {
			if errors.Is(err, wire.ErrFrame) {
				slog.Error("sdk: the host broke the data channel protocol; dropping the connection", "err", err)
				_ = p.data.Close()
			}
			return
		}
	}
}

func (p *pump) apply(t byte, b []byte) error {
	if !p.datagram {
		if t != wire.FrameCloseWrite {
			return fmt.Errorf("%w: type %q on a stream's framed channel", wire.ErrFrame, t)
		}
		select {
		case <-p.rawDone:
		case <-p.done:
			return nil
		}
		err := closeWrite(p.conn)
		return p.sendMsg(wire.FrameCloseWrite, &pb.CloseWriteResult{Error: wire.EncodeError(err)})
	}
	switch t {
	case wire.FrameData:
		p.mu.Lock()
		p.queue = append(p.queue, b)
		p.mu.Unlock()
		signal(p.work)
	case wire.FrameCredit:
		n, err := wire.ParseCredit(b)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.credit += n
		p.mu.Unlock()
		signal(p.more)
	case wire.FrameDeadline:
		v, err := wire.ParseUint64(b)
		if err != nil {
			return err
		}
		var dl time.Time
		if v != 0 {
			dl = time.Unix(0, int64(v))
		}
		if p.datagram {
			_ = p.conn.SetWriteDeadline(dl)
		}
	default:
		return fmt.Errorf("%w: type %q from the host", wire.ErrFrame, t)
	}
	return nil
}

// rawReadLoop copies what the Conn reads to the raw channel, which holds
// the read-ahead (its send buffer) and blocks when the host has not read
// it. The Conn's first error is final: it goes on the framed channel, then
// the raw channel ends.
func (p *pump) rawReadLoop() {
	buf := make([]byte, wire.StreamFrame)
	for {
		n, err := p.conn.Read(buf)
		if n > 0 {
			if _, werr := p.raw.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err == nil {
			continue
		}
		select {
		case <-p.done:
			return // closed by the host: what this read returned is moot
		default:
		}
		if p.sendMsg(wire.FrameReadError, &pb.Data{Error: wire.EncodeError(err)}) == nil {
			_ = p.raw.CloseWrite()
		}
		return
	}
}

// rawWriteLoop writes what the raw channel brings to the Conn, in order.
// When the Conn fails a write, the error goes on the framed channel and the
// raw channel stops reading, so that the host's writes fail too; at the
// channel's end (the host's half-close or close) all is written.
func (p *pump) rawWriteLoop() {
	defer func() {
		p.mu.Lock()
		p.inDone = true
		p.mu.Unlock()
		signal(p.idle)
		close(p.rawDone)
	}()
	buf := make([]byte, p.copyBuf)
	var total int64
	for {
		n, err := p.raw.Read(buf)
		if n > 0 {
			m, werr := p.conn.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				_ = p.sendMsg(wire.FrameWriteAck, &pb.WriteAck{N: total, Error: wire.EncodeError(werr)})
				_ = p.raw.CloseRead()
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// readLoop reads ahead while the host has credit. On a stream conn the
// first error is final; on a datagram conn errors are passed on and reading
// goes on.
func (p *pump) readLoop() {
	size := wire.StreamFrame
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
		var sendErr error
		if err == nil {
			sendErr = p.send(wire.FrameData, buf[:n])
		} else {
			sendErr = p.sendMsg(wire.FrameReadError, &pb.Data{Data: buf[:n], Error: wire.EncodeError(err)})
		}
		if sendErr != nil || final {
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

// writeLoop writes a datagram conn's datagrams in order and acknowledges
// each with its own result.
func (p *pump) writeLoop() {
	var op uint64
	for {
		p.mu.Lock()
		batch := p.queue
		p.queue = nil
		p.busy = len(batch) > 0
		p.mu.Unlock()
		if len(batch) == 0 {
			signal(p.idle)
			select {
			case <-p.work:
				continue
			case <-p.done:
				return
			}
		}
		for _, d := range batch {
			n, err := p.conn.Write(d)
			wire.PutBuffer(d)
			op++
			if p.sendMsg(wire.FrameWriteAck, &pb.WriteAck{Op: op, N: int64(n), Error: wire.EncodeError(err)}) != nil {
				return // the data channel is gone
			}
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
