package plugins

import (
	"context"
	"errors"

	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

// item is what one Read in the plugin returned.
type item struct {
	data []byte
	err  error
}

// conn is the host's end of a connection whose Conn lives in a plugin. One
// gRPC stream carries it: a receiver goroutine files incoming data, write
// credit and acknowledgements and close results; Read and Write never make
// an RPC of their own, and neither waits for a round trip while its window
// has room.
type conn struct {
	d          *remoteDriver
	g          *generation
	id         uint64
	datagram   bool
	windowed   bool // writes go within the write window, unacknowledged
	maxPayload int  // the Conn's max payload, 0: unknown
	stream     pb.Plugin_ConnClient
	cancel     context.CancelFunc
	local      net.Addr
	remote     net.Addr
	caps       any

	sendMu sync.Mutex // serialises stream.Send

	rdl, wdl *deadline
	wsem     chan struct{} // one Write (or CloseWrite) at a time

	mu      sync.Mutex // guards the fields below
	items   []item
	rerr    error         // stream: the final read error, after items
	rch     chan struct{} // closed and replaced when items or rerr change
	unacked int64         // bytes read but not yet returned as credit
	wcredit int64         // write window left
	werr    error         // the plugin's write error, reported by later calls
	wch     chan struct{} // closed and replaced when wcredit or werr change
	drained bool          // the plugin wrote what was queued before Close
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
		local:  addrOf(res.Local, d.info.Name, ""),
		remote: addrOf(res.Remote, d.info.Name, address),
		rdl:    newDeadline(), wdl: newDeadline(),
		wsem:     make(chan struct{}, 1),
		rch:      make(chan struct{}),
		wch:      make(chan struct{}),
		wcredit:  res.InitialWriteCredit,
		cwRes:    make(chan error, 1),
		closeRes: make(chan error, 1),
		closed:   make(chan struct{}),
		gone:     make(chan struct{}),
		recvDone: make(chan struct{}),
	}
	c.maxPayload = int(min(res.MaxPayload, wire.MaxDatagram))
	// A stream's writes are always windowed, a datagram conn's when the
	// host can check sizes itself (ErrTooLarge stays synchronous) and a
	// datagram fits the window.
	c.windowed = res.InitialWriteCredit > 0 && (!c.datagram || (c.maxPayload > 0 && c.maxPayload < int(res.InitialWriteCredit)))
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
			if err := wire.DecodeError(fr.Data.Error); errors.Is(err, driver.ErrBadConn) && c.werr == nil {
				// The Conn can no longer work: every call says so,
				// Write included, not just the next Read.
				c.werr = err
				close(c.wch)
				c.wch = make(chan struct{})
			}
			c.mu.Unlock()
		case *pb.PluginFrame_WriteCredit:
			c.mu.Lock()
			c.wcredit += max(fr.WriteCredit.Bytes, 0) // a buggy plugin cannot shrink the window
			c.drained = c.drained || fr.WriteCredit.Drained
			if err := wire.DecodeError(fr.WriteCredit.Error); err != nil && c.werr == nil {
				c.werr = err
			}
			close(c.wch)
			c.wch = make(chan struct{})
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
		if c.rdl.passed() {
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
		case <-c.rdl.wait():
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

// Close closes the connection in the plugin and ends its stream; pending
// and later calls return net.ErrClosed. The plugin first writes the data
// queued before the Close, so that the peer reads all of it, then the end
// of the stream: Close waits for that while the plugin reports progress
// (at most wire.CloseStall without any), then at most wire.CloseWait for
// the driver's Close, and not at all once the plugin is gone. A write
// error the plugin reported, before or during that, is Close's error. A
// second Close returns an error wrapping net.ErrClosed.
func (c *conn) Close() error {
	first := false
	c.closeOnce.Do(func() { first = true; close(c.closed) })
	if !first {
		return c.opError("close", net.ErrClosed)
	}
	c.rdl.stop()
	c.wdl.stop()
	var err error
	if !isClosed(c.gone) && !isClosed(c.g.exited()) {
		if c.send(&pb.HostFrame{Frame: &pb.HostFrame_Close{Close: &pb.Close{}}}) == nil {
			err = c.awaitClosed()
		}
	}
	c.cancel()
	<-c.recvDone
	if isClosed(c.gone) || isClosed(c.g.exited()) {
		return nil
	}
	c.mu.Lock()
	werr := c.werr
	c.mu.Unlock()
	if werr != nil && !c.datagram {
		return c.opError("close", werr)
	}
	if err != nil {
		return c.opError("close", err)
	}
	return nil
}

// awaitClosed waits for the plugin's Close result, bounded by progress:
// each write credit returned restarts the wire.CloseStall bound, and the
// end of the drain starts wire.CloseWait for the driver's Close. nil when
// it gives up or the plugin is gone.
func (c *conn) awaitClosed() error {
	t := time.NewTimer(wire.CloseStall)
	defer t.Stop()
	for {
		c.mu.Lock()
		ch := c.wch
		c.mu.Unlock()
		select {
		case err := <-c.closeRes:
			return err
		case <-c.recvDone:
			return nil
		case <-c.g.exited():
			return nil
		case <-t.C:
			return nil
		case <-ch:
			c.mu.Lock()
			bound := wire.CloseStall
			if c.drained {
				bound = wire.CloseWait
			}
			c.mu.Unlock()
			t.Reset(bound)
		}
	}
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
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline is enforced here: a Write times out while it waits for
// room in the write window. Data already in the window is written
// regardless, as from a kernel socket's buffer. Only acknowledged
// (datagram) writes forward the deadline to the plugin's Conn, so that a
// Write blocked in the driver ends at the deadline too.
func (c *conn) SetWriteDeadline(t time.Time) error {
	if err := c.failed("set-deadline"); err != nil {
		return err
	}
	c.wdl.set(t)
	if c.windowed {
		return nil
	}
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
