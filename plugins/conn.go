package plugins

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/core/driver/deadline"
	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

// writeGrace is how long a Write whose deadline passed waits for the
// plugin (which has the same deadline) to report how much it wrote, before
// returning the timeout without that count.
const writeGrace = 200 * time.Millisecond

// closeWait bounds how long Close waits for the plugin to confirm it closed
// the connection.
const closeWait = 5 * time.Second

// item is what one Read in the plugin returned.
type item struct {
	data []byte
	err  error
}

// conn is the host's end of a connection whose Conn lives in a plugin. One
// gRPC stream carries it: a receiver goroutine files incoming data, write
// acknowledgements and close results; Read and Write never make an RPC of
// their own.
type conn struct {
	d        *remoteDriver
	g        *generation
	id       uint64
	datagram bool
	stream   pb.Plugin_ConnClient
	cancel   context.CancelFunc
	local    net.Addr
	remote   net.Addr
	caps     any

	sendMu sync.Mutex // serialises stream.Send

	rdl, wdl deadline.Timer
	wsem     chan struct{} // one Write (or CloseWrite) at a time

	mu      sync.Mutex // guards the fields below
	items   []item
	rerr    error         // stream: the final read error, after items
	rch     chan struct{} // closed and replaced when items or rerr change
	unacked int64         // bytes read but not yet returned as credit
	op      uint64        // the last write op
	waitOp  uint64        // the op a Write waits for, 0: none
	ack     *pb.WriteAck
	ackCh   chan struct{} // closed when ack arrives

	cwRes    chan error // CloseWrite results
	closeRes chan error // the plugin's Close result

	closeOnce sync.Once
	closed    chan struct{}
	gone      chan struct{} // closed when goneErr is set
	goneErr   error
	recvDone  chan struct{}
}

var _ driver.Conn = (*conn)(nil)

// dialConn opens the connection stream and dials through it. ctx bounds
// the dial only: the stream has its own context, cancelled by Close.
func dialConn(ctx context.Context, d *remoteDriver, g *generation, dialer uint64, t driver.Transport, address string) (driver.Conn, error) {
	sctx, cancel := context.WithCancel(context.Background())
	stream, err := g.rpc.Conn(sctx)
	if err != nil {
		cancel()
		return nil, d.p.callError(ctx, g, err)
	}
	stop := context.AfterFunc(ctx, cancel)
	dial := &pb.Dial{Dialer: dialer, Transport: string(t), Address: address}
	if dl, ok := ctx.Deadline(); ok {
		dial.DeadlineUnixNano = dl.UnixNano()
	}
	var f *pb.PluginFrame
	if err = stream.Send(&pb.HostFrame{Frame: &pb.HostFrame_Dial{Dial: dial}}); err == nil {
		f, err = stream.Recv()
	}
	if !stop() {
		cancel()
		return nil, fmt.Errorf("plugins: %s: dial %s: %w", d.info.Name, address, ctx.Err())
	}
	if err != nil {
		cancel()
		return nil, d.p.callError(ctx, g, err)
	}
	res := f.GetDialResult()
	if res == nil {
		cancel()
		return nil, fmt.Errorf("plugins: %s: dial %s: %w: the plugin answered the dial with %T", d.info.Name, address, driver.ErrBadConn, f.Frame)
	}
	if res.Error != nil {
		cancel()
		return nil, wire.DecodeError(res.Error)
	}
	c := &conn{
		d: d, g: g, id: res.Conn,
		datagram: t == driver.Datagram,
		stream:   stream, cancel: cancel,
		local:    addrOf(res.Local, d.info.Name, ""),
		remote:   addrOf(res.Remote, d.info.Name, address),
		wsem:     make(chan struct{}, 1),
		rch:      make(chan struct{}),
		cwRes:    make(chan error, 1),
		closeRes: make(chan error, 1),
		closed:   make(chan struct{}),
		gone:     make(chan struct{}),
		recvDone: make(chan struct{}),
	}
	c.caps = connCaps(c, res.MaxPayload, res.Signal, res.Sleeper)
	go c.recvLoop()
	return c, nil
}

func addrOf(a *pb.Addr, name, fallback string) net.Addr {
	if a == nil {
		return driver.Addr{Net: name, Address: fallback}
	}
	return driver.Addr{Net: a.Network, Address: a.Address}
}

// recvLoop files what the plugin sends until the stream ends.
func (c *conn) recvLoop() {
	defer close(c.recvDone)
	for {
		f, err := c.stream.Recv()
		if err != nil {
			c.broken(err)
			return
		}
		switch fr := f.Frame.(type) {
		case *pb.PluginFrame_Data:
			c.mu.Lock()
			it := item{data: fr.Data.Data, err: wire.DecodeError(fr.Data.Error)}
			if !c.datagram && it.err != nil {
				c.rerr, it.err = it.err, nil
			}
			if len(it.data) > 0 || c.datagram {
				c.items = append(c.items, it)
			}
			close(c.rch)
			c.rch = make(chan struct{})
			c.mu.Unlock()
		case *pb.PluginFrame_WriteAck:
			c.mu.Lock()
			if fr.WriteAck.Op == c.waitOp && c.ack == nil {
				c.ack = fr.WriteAck
				close(c.ackCh)
			}
			c.mu.Unlock()
		case *pb.PluginFrame_CloseWriteResult:
			select {
			case c.cwRes <- wire.DecodeError(fr.CloseWriteResult.Error):
			default:
			}
		case *pb.PluginFrame_Closed:
			c.closeRes <- wire.DecodeError(fr.Closed.Error)
			return
		}
	}
}

// broken handles the end of the stream that Close did not cause: the
// plugin process is gone (then the error names its exit status), or the
// plugin dropped the stream.
func (c *conn) broken(err error) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-c.closed:
		return
	case <-c.g.exited():
		c.goneErr = c.goneError()
	case <-t.C:
		c.goneErr = fmt.Errorf("plugins: %s: %w: the plugin dropped the connection: %v", c.d.info.Name, driver.ErrBadConn, err)
	}
	close(c.gone)
}

func (c *conn) goneError() error {
	return &GoneError{Plugin: c.d.p.name, Status: c.g.proc.status}
}

// failed returns the error every call gets once the conn is closed or
// broken, or nil.
func (c *conn) failed(op string) error {
	switch {
	case isClosed(c.closed):
		return c.opError(op, net.ErrClosed)
	case isClosed(c.g.exited()):
		return c.opError(op, c.goneError())
	case isClosed(c.gone):
		return c.opError(op, c.goneErr)
	}
	return nil
}

func (c *conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.d.info.Name, Source: c.local, Addr: c.remote, Err: err}
}

func (c *conn) send(f *pb.HostFrame) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.stream.Send(f)
}

// sendError is the error of a call whose frame could not be sent.
func (c *conn) sendError(op string, err error) error {
	if e := c.failed(op); e != nil {
		return e
	}
	select {
	case <-c.gone:
	case <-c.closed:
	}
	if e := c.failed(op); e != nil {
		return e
	}
	return c.opError(op, fmt.Errorf("%w: %v", driver.ErrBadConn, err))
}

// Read returns the next data the plugin read, or its error. Deadlines are
// checked here, without asking the plugin, which reads ahead as far as the
// read window allows.
func (c *conn) Read(p []byte) (int, error) {
	for {
		if err := c.failed("read"); err != nil {
			return 0, err
		}
		if c.rdl.Passed() {
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		c.mu.Lock()
		if len(c.items) > 0 {
			if !c.datagram && len(p) == 0 {
				c.mu.Unlock()
				return 0, nil
			}
			it := &c.items[0]
			n := copy(p, it.data)
			err, cost := it.err, int64(n)
			if c.datagram {
				if n < len(it.data) && err == nil {
					err = fmt.Errorf("plugins: %s: read: %w: datagram of %d bytes, buffer of %d", c.d.info.Name, driver.ErrShortBuffer, len(it.data), len(p))
				}
				cost = int64(len(it.data)) + 1
				it.data = nil
			} else {
				it.data = it.data[n:]
			}
			if len(it.data) == 0 {
				c.items[0] = item{}
				c.items = c.items[1:]
			}
			credit := c.consumeLocked(cost)
			c.mu.Unlock()
			if credit > 0 {
				_ = c.send(&pb.HostFrame{Frame: &pb.HostFrame_Credit{Credit: &pb.Credit{Bytes: credit}}})
			}
			return n, err
		}
		if c.rerr != nil {
			err := c.rerr
			c.mu.Unlock()
			return 0, err
		}
		ch := c.rch
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.rdl.Done():
		case <-c.closed:
		case <-c.gone:
		case <-c.g.exited():
		}
	}
}

// consumeLocked counts read bytes and returns the credit to give back now
// (in batches of a quarter window), or 0.
func (c *conn) consumeLocked(n int64) int64 {
	c.unacked += n
	if c.unacked < wire.ReadWindow/4 {
		return 0
	}
	n, c.unacked = c.unacked, 0
	return n
}

// Write sends p through the plugin and returns once the plugin's Conn has
// taken it (or failed), so that back-pressure and write deadlines are the
// driver's own. Stream data goes in ops of at most wire.WriteWindow bytes.
func (c *conn) Write(p []byte) (int, error) {
	select {
	case c.wsem <- struct{}{}:
		defer func() { <-c.wsem }()
	case <-c.wdl.Done():
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	case <-c.closed:
	case <-c.gone:
	case <-c.g.exited():
	}
	if err := c.failed("write"); err != nil {
		return 0, err
	}
	if c.wdl.Passed() {
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
	if c.datagram {
		if len(p) > wire.MaxDatagram {
			return 0, c.opError("write", fmt.Errorf("%w: %d bytes; a plugin connection carries datagrams of at most %d", driver.ErrTooLarge, len(p), wire.MaxDatagram))
		}
		return c.writeOp(p, len(p))
	}
	total := 0
	for len(p) > 0 {
		seg := p[:min(len(p), wire.WriteWindow)]
		n, err := c.writeOp(seg, wire.Chunk)
		total += n
		if err != nil {
			return total, err
		}
		p = p[len(seg):]
	}
	return total, nil
}

// writeOp sends one op in chunks and waits for its acknowledgement.
func (c *conn) writeOp(p []byte, chunk int) (int, error) {
	c.mu.Lock()
	c.op++
	op := c.op
	c.waitOp, c.ack, c.ackCh = op, nil, make(chan struct{})
	ackCh := c.ackCh
	c.mu.Unlock()
	for off := 0; ; {
		end := min(off+max(chunk, 1), len(p))
		last := end == len(p)
		w := &pb.Write{Op: op, Data: p[off:end], Last: last}
		if err := c.send(&pb.HostFrame{Frame: &pb.HostFrame_Write{Write: w}}); err != nil {
			return 0, c.sendError("write", err)
		}
		if off = end; last {
			break
		}
	}
	ack := func() (int, error) {
		c.mu.Lock()
		a := c.ack
		c.waitOp = 0
		c.mu.Unlock()
		return int(a.N), wire.DecodeError(a.Error)
	}
	select {
	case <-ackCh:
		return ack()
	case <-c.wdl.Done():
	case <-c.closed:
	case <-c.gone:
	case <-c.g.exited():
	}
	if err := c.failed("write"); err != nil {
		return 0, err
	}
	// The deadline passed. The plugin has it too; let it say how much of
	// p its Conn took before it timed out.
	t := time.NewTimer(writeGrace)
	defer t.Stop()
	select {
	case <-ackCh:
		return ack()
	case <-t.C:
	case <-c.closed:
	case <-c.gone:
	case <-c.g.exited():
	}
	c.mu.Lock()
	c.waitOp = 0
	c.mu.Unlock()
	if err := c.failed("write"); err != nil {
		return 0, err
	}
	return 0, c.opError("write", os.ErrDeadlineExceeded)
}

// CloseWrite half-closes a stream connection (the plugin's Conn must have
// a CloseWrite method, as TCP conns do), after the writes before it.
func (c *conn) CloseWrite() error {
	if c.datagram {
		return c.opError("close-write", fmt.Errorf("%w: half-close of a datagram connection", driver.ErrNotSupported))
	}
	select {
	case c.wsem <- struct{}{}:
		defer func() { <-c.wsem }()
	case <-c.closed:
	case <-c.gone:
	case <-c.g.exited():
	}
	if err := c.failed("close-write"); err != nil {
		return err
	}
	if err := c.send(&pb.HostFrame{Frame: &pb.HostFrame_CloseWrite{CloseWrite: &pb.CloseWrite{}}}); err != nil {
		return c.sendError("close-write", err)
	}
	select {
	case err := <-c.cwRes:
		return err
	case <-c.closed:
	case <-c.gone:
	case <-c.g.exited():
	}
	return c.failed("close-write")
}

// Close closes the connection in the plugin and ends its stream; pending
// and later calls return net.ErrClosed. A second Close returns an error
// wrapping net.ErrClosed.
func (c *conn) Close() error {
	first := false
	c.closeOnce.Do(func() { first = true; close(c.closed) })
	if !first {
		return c.opError("close", net.ErrClosed)
	}
	c.rdl.Stop()
	c.wdl.Stop()
	var err error
	if !isClosed(c.gone) && !isClosed(c.g.exited()) {
		if c.send(&pb.HostFrame{Frame: &pb.HostFrame_Close{Close: &pb.Close{}}}) == nil {
			t := time.NewTimer(closeWait)
			select {
			case err = <-c.closeRes:
			case <-c.recvDone:
			case <-c.g.exited():
			case <-t.C:
			}
			t.Stop()
		}
	}
	c.cancel()
	<-c.recvDone
	if err != nil {
		return c.opError("close", err)
	}
	return nil
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// Unwrap gives driver.Lookup the capabilities the plugin's Conn has.
func (c *conn) Unwrap() any { return c.caps }

func (c *conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline is enforced here only: the plugin reads ahead regardless.
func (c *conn) SetReadDeadline(t time.Time) error {
	if err := c.failed("set-deadline"); err != nil {
		return err
	}
	c.rdl.Set(t)
	return nil
}

// SetWriteDeadline is enforced here and forwarded to the plugin's Conn, so
// that a Write blocked in the driver ends at the deadline too.
func (c *conn) SetWriteDeadline(t time.Time) error {
	if err := c.failed("set-deadline"); err != nil {
		return err
	}
	c.wdl.Set(t)
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	if err := c.send(&pb.HostFrame{Frame: &pb.HostFrame_WriteDeadline{WriteDeadline: &pb.Deadline{UnixNano: ns}}}); err != nil {
		return c.sendError("set-deadline", err)
	}
	return nil
}

func (c *conn) signal(ctx context.Context) (driver.Signal, error) {
	if err := c.failed("signal"); err != nil {
		return driver.Signal{}, err
	}
	res, err := c.g.rpc.Signal(ctx, &pb.ConnCall{Conn: c.id})
	if err != nil {
		return driver.Signal{}, c.d.p.callError(ctx, c.g, err)
	}
	if res.Error != nil {
		return driver.Signal{}, wire.DecodeError(res.Error)
	}
	return driver.Signal{RSSI: int(res.Rssi), Quality: int(res.Quality), Technology: res.Technology}, nil
}

func (c *conn) sleep(ctx context.Context, d time.Duration) error {
	if err := c.failed("sleep"); err != nil {
		return err
	}
	res, err := c.g.rpc.Sleep(ctx, &pb.SleepRequest{Conn: c.id, DurationNanos: int64(d)})
	if err != nil {
		return c.d.p.callError(ctx, c.g, err)
	}
	return wire.DecodeError(res.Error)
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
