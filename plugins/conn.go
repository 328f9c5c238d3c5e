package plugins

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/core/driver/deadline"
	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

// writeGrace is how long a datagram Write whose deadline passed waits for
// the plugin (which has the same deadline) to report whether it sent the
// datagram, before returning the timeout without that answer.
const writeGrace = 200 * time.Millisecond

// closeWait bounds how long Close waits for the plugin to confirm it closed
// the connection (the plugin first writes what it accepted, for at most
// the SDK's flush bound).
const closeWait = 5 * time.Second

// dataWait bounds how long a dial waits for the plugin's data sockets once
// the plugin reported success.
const dataWait = 10 * time.Second

// item is what one Read in the plugin returned.
type item struct {
	data []byte
	err  error
	buf  []byte // the frame payload data is in, recycled once read
}

// conn is the host's end of a connection whose Conn lives in a plugin. Its
// gRPC stream carries the dial and the close. A stream conn's bytes go on
// its raw channel (a Unix socket: Read and Write are the socket's, with its
// deadlines), their errors and the half-close on its framed channel; a
// datagram conn's data goes on its framed channel with credit (see
// wire.FrameData). A receiver goroutine per framed channel and stream
// files what arrives; Read and Write never make an RPC of their own.
type conn struct {
	d        *remoteDriver
	g        *generation
	id       uint64
	datagram bool
	stream   pb.Plugin_ConnClient
	cancel   context.CancelFunc
	data     net.Conn      // the framed channel
	raw      *net.UnixConn // a stream's raw channel; nil on a datagram conn
	local    net.Addr
	remote   net.Addr
	caps     any

	sendMu sync.Mutex // serialises frames on data

	rdl, wdl deadline.Timer // a datagram conn's deadlines
	wsem     chan struct{}  // one datagram Write (or CloseWrite) at a time

	mu      sync.Mutex // guards the fields below
	items   []item
	rerr    error         // stream: the final read error, after items
	rch     chan struct{} // closed and replaced when items or rerr change
	unacked int64         // bytes read but not yet returned as credit
	werr    error         // stream: the plugin's Conn failed a Write: final
	op      uint64        // datagram: the last datagram sent
	ack     *pb.WriteAck  // datagram: the latest acknowledgement
	cwRes   []error       // CloseWrite results not yet collected
	wch     chan struct{} // closed and replaced when werr, ack or cwRes change

	closeRes chan error // the plugin's Close result

	closeOnce  sync.Once
	closed     chan struct{}
	brokenOnce sync.Once
	gone       chan struct{} // closed when goneErr is set
	goneErr    error
	recvDone   chan struct{}
	dataDone   chan struct{}
}

var _ driver.Conn = (*conn)(nil)

// dialConn opens the connection stream and dials through it, then takes
// the data socket the plugin connects. ctx bounds the dial only: the
// stream has its own context, cancelled by Close.
func dialConn(ctx context.Context, d *remoteDriver, g *generation, dialer uint64, t driver.Transport, address string) (driver.Conn, error) {
	stream := t == driver.Stream
	token, framed, rawc, forget := g.data.expect(stream)
	defer forget()
	sctx, cancel := context.WithCancel(context.Background())
	cs, err := g.rpc.Conn(sctx)
	if err != nil {
		cancel()
		return nil, d.p.callError(ctx, g, err)
	}
	stop := context.AfterFunc(ctx, cancel)
	dial := &pb.Dial{Dialer: dialer, Transport: string(t), Address: address, DataSocket: g.data.path, DataToken: token}
	if dl, ok := ctx.Deadline(); ok {
		dial.DeadlineUnixNano = dl.UnixNano()
	}
	var f *pb.PluginFrame
	if err = cs.Send(&pb.HostFrame{Frame: &pb.HostFrame_Dial{Dial: dial}}); err == nil {
		f, err = cs.Recv()
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
	var data, raw net.Conn
	wait := time.NewTimer(dataWait)
	defer wait.Stop()
	for err == nil && (data == nil || stream && raw == nil) {
		select {
		case data = <-framed:
		case raw = <-rawc:
		case <-ctx.Done():
			err = ctx.Err()
		case <-g.exited():
			err = &GoneError{Plugin: d.p.name, Status: g.proc.status}
		case <-wait.C:
			err = errors.New("the plugin did not connect the data channels")
		}
	}
	uraw, _ := raw.(*net.UnixConn)
	if err == nil && res.WriteWindow <= 0 {
		err = fmt.Errorf("the plugin granted a write window of %d bytes", res.WriteWindow)
	}
	if err != nil || stream && uraw == nil {
		for _, s := range []net.Conn{data, raw} {
			if s != nil {
				_ = s.Close()
			}
		}
		cancel()
		return nil, fmt.Errorf("plugins: %s: dial %s: %w: %w", d.info.Name, address, driver.ErrBadConn, err)
	}
	if uraw != nil {
		_ = uraw.SetWriteBuffer(int(min(res.WriteWindow, wire.MaxWindow)))
	}
	c := &conn{
		d: d, g: g, id: res.Conn,
		datagram: !stream,
		stream:   cs, cancel: cancel, data: data, raw: uraw,
		local:    addrOf(res.Local, d.info.Name, ""),
		remote:   addrOf(res.Remote, d.info.Name, address),
		wsem:     make(chan struct{}, 1),
		rch:      make(chan struct{}),
		wch:      make(chan struct{}),
		closeRes: make(chan error, 1),
		closed:   make(chan struct{}),
		gone:     make(chan struct{}),
		recvDone: make(chan struct{}),
		dataDone: make(chan struct{}),
	}
	c.caps = connCaps(c, res.MaxPayload, res.Signal, res.Sleeper)
	go c.recvLoop()
	go c.dataLoop()
	return c, nil
}

func addrOf(a *pb.Addr, name, fallback string) net.Addr {
	if a == nil {
		return driver.Addr{Net: name, Address: fallback}
	}
	return driver.Addr{Net: a.Network, Address: a.Address}
}

// recvLoop waits for the plugin's Closed until the stream ends.
func (c *conn) recvLoop() {
	defer close(c.recvDone)
	for {
		f, err := c.stream.Recv()
		if err != nil {
			c.broken(err)
			return
		}
		if cl := f.GetClosed(); cl != nil {
			c.closeRes <- wire.DecodeError(cl.Error)
			return
		}
	}
}

// dataLoop files what the plugin sends on the data channel until it ends.
func (c *conn) dataLoop() {
	defer close(c.dataDone)
	r := wire.NewFrameReader(c.data)
	for {
		t, p, err := r.Next()
		if err == nil {
			err = c.file(t, p)
		}
		if err != nil {
			c.broken(err)
			return
		}
	}
}

// file applies one frame from the plugin.
func (c *conn) file(t byte, p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch t {
	case wire.FrameData:
		if !c.datagram {
			return fmt.Errorf("%w: data on a stream's framed channel", wire.ErrFrame)
		}
		if len(p) > 0 || c.datagram {
			c.items = append(c.items, item{data: p, buf: p})
			c.notifyRead()
		}
	case wire.FrameReadError:
		var m pb.Data
		if err := proto.Unmarshal(p, &m); err != nil {
			return fmt.Errorf("%w: read result: %v", wire.ErrFrame, err)
		}
		it := item{data: m.Data, err: wire.DecodeError(m.Error)}
		if !c.datagram && it.err != nil {
			c.rerr, it.err = it.err, nil
		}
		if len(it.data) > 0 || c.datagram {
			c.items = append(c.items, it)
		}
		c.notifyRead()
	case wire.FrameWriteAck:
		var a pb.WriteAck
		if err := proto.Unmarshal(p, &a); err != nil {
			return fmt.Errorf("%w: write result: %v", wire.ErrFrame, err)
		}
		if !c.datagram {
			c.werr = wire.DecodeError(a.Error)
			if c.werr == nil {
				c.werr = fmt.Errorf("plugins: %s: %w: the plugin reported a failed write without its error", c.d.info.Name, driver.ErrBadConn)
			}
			// Writes fail from now on; wake one blocked on a full buffer.
			_ = c.raw.SetWriteDeadline(time.Unix(1, 0))
		}
		c.ack = &a
		c.notifyWrite()
	case wire.FrameCloseWrite:
		var r pb.CloseWriteResult
		if err := proto.Unmarshal(p, &r); err != nil {
			return fmt.Errorf("%w: half-close result: %v", wire.ErrFrame, err)
		}
		c.cwRes = append(c.cwRes, wire.DecodeError(r.Error))
		c.notifyWrite()
	default:
		return fmt.Errorf("%w: type %q from the plugin", wire.ErrFrame, t)
	}
	return nil
}

func (c *conn) notifyRead() {
	close(c.rch)
	c.rch = make(chan struct{})
}

func (c *conn) notifyWrite() {
	close(c.wch)
	c.wch = make(chan struct{})
}

// broken handles the end of a channel that Close did not cause: the
// plugin process is gone (then the error names its exit status), or the
// plugin dropped the connection or broke the protocol.
func (c *conn) broken(err error) {
	c.brokenOnce.Do(func() {
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
		// The other channels may still be open.
		c.cancel()
		_ = c.data.Close()
		if c.raw != nil {
			_ = c.raw.Close()
		}
	})
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

// send writes one frame on the data channel.
func (c *conn) send(t byte, p []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return wire.WriteFrame(c.data, t, p)
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
	if !c.datagram {
		return c.readStream(p)
	}
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
				wire.PutBuffer(it.buf)
				c.items[0] = item{}
				c.items = c.items[1:]
			}
			credit := c.consumeLocked(cost)
			c.mu.Unlock()
			if credit > 0 {
				_ = c.send(wire.FrameCredit, wire.Uint64(uint64(credit)))
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

// readStream reads from the raw channel.
func (c *conn) readStream(p []byte) (int, error) {
	if err := c.failed("read"); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.raw.Read(p)
	if n > 0 || err == nil {
		return n, nil // an error comes again on the next Read
	}
	return 0, c.rawError("read", err)
}

// rawError turns an error of the raw channel into the conn's: a timeout
// is the deadline's, and the channel's end is explained by the error the
// plugin sent on the framed channel before it (its Conn's final read or
// write error), or by the plugin's end.
func (c *conn) rawError(op string, err error) error {
	if e := c.failed(op); e != nil {
		return e
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.mu.Lock()
		werr := c.werr
		c.mu.Unlock()
		if op == "write" && werr != nil {
			return werr // the deadline that woke this Write was ours
		}
		return c.opError(op, os.ErrDeadlineExceeded)
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		c.mu.Lock()
		e := c.rerr
		if op == "write" && !deadConn(e) {
			e = c.werr
		}
		rch, wch := c.rch, c.wch
		c.mu.Unlock()
		if e != nil {
			return e
		}
		select {
		case <-rch:
			continue
		case <-wch:
			continue
		case <-c.closed:
		case <-c.gone:
		case <-c.g.exited():
		case <-t.C:
			return c.opError(op, fmt.Errorf("%w: the plugin ended the data channel: %v", driver.ErrBadConn, err))
		}
		return c.failed(op)
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

// Write sends p to the plugin. On a stream conn it returns once all of p
// is within the write window (the raw channel's buffer), which drains as
// the plugin's Conn takes the bytes: when the Conn is slow the window fills
// and Write waits, bounded by the write deadline (then n counts what the
// window took, which the plugin still writes). A Conn's write error is
// final and returned by the next Write. On a datagram conn Write returns
// the result of the plugin's Write of that datagram.
func (c *conn) Write(p []byte) (int, error) {
	if !c.datagram {
		return c.writeStream(p)
	}
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
	if len(p) > wire.MaxDatagram {
		return 0, c.opError("write", fmt.Errorf("%w: %d bytes; a plugin connection carries datagrams of at most %d", driver.ErrTooLarge, len(p), wire.MaxDatagram))
	}
	return c.writeDatagram(p)
}

// writeStream writes to the raw channel.
func (c *conn) writeStream(p []byte) (int, error) {
	if err := c.failed("write"); err != nil {
		return 0, err
	}
	c.mu.Lock()
	werr := c.werr
	if werr == nil && deadConn(c.rerr) {
		werr = c.rerr // the read side saw the connection go
	}
	c.mu.Unlock()
	if werr != nil {
		return 0, werr
	}
	n, err := c.raw.Write(p)
	if err != nil {
		return n, c.rawError("write", err)
	}
	return n, nil
}

// deadConn reports whether a stream's final read error says that the
// connection is gone both ways (ErrBadConn, ErrReset), so that Write
// returns it at once, as it would in process, rather than once the
// plugin's Conn has failed a write too.
func deadConn(err error) bool {
	return err != nil && (errors.Is(err, driver.ErrBadConn) || errors.Is(err, driver.ErrReset))
}

// writeDatagram sends one datagram and waits for the plugin's result.
func (c *conn) writeDatagram(p []byte) (int, error) {
	c.mu.Lock()
	c.op++
	op := c.op
	c.mu.Unlock()
	if err := c.send(wire.FrameData, p); err != nil {
		return 0, c.sendError("write", err)
	}
	// acked returns the ack of op once it is in.
	acked := func() (<-chan struct{}, *pb.WriteAck) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.ack != nil && c.ack.Op == op {
			return nil, c.ack
		}
		return c.wch, nil
	}
	var grace <-chan time.Time
	for {
		ch, a := acked()
		if a != nil {
			return int(a.N), wire.DecodeError(a.Error)
		}
		dl := c.wdl.Done()
		if grace != nil {
			dl = nil
		}
		select {
		case <-ch:
			continue
		case <-dl:
			if c.wdl.Passed() {
				// The plugin has the deadline too; let it say whether
				// its Conn sent the datagram before it timed out.
				t := time.NewTimer(writeGrace)
				defer t.Stop()
				grace = t.C
			}
			continue
		case <-grace:
		case <-c.closed:
		case <-c.gone:
		case <-c.g.exited():
		}
		if err := c.failed("write"); err != nil {
			return 0, err
		}
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
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
	// The raw channel's end comes after the writes; the frame asks the
	// plugin to half-close its Conn once it has written them.
	if err := c.raw.CloseWrite(); err != nil {
		return c.rawError("close-write", err)
	}
	if err := c.send(wire.FrameCloseWrite, nil); err != nil {
		return c.sendError("close-write", err)
	}
	for {
		c.mu.Lock()
		if len(c.cwRes) > 0 {
			err := c.cwRes[0]
			c.cwRes = c.cwRes[1:]
			c.mu.Unlock()
			return err
		}
		ch := c.wch
		c.mu.Unlock()
		select {
		case <-ch:
			continue
		case <-c.closed:
		case <-c.gone:
		case <-c.g.exited():
		}
		return c.failed("close-write")
	}
}

// Close closes the connection in the plugin, which first writes what it
// accepted, and ends both channels; pending and later calls return
// net.ErrClosed. A second Close returns an error wrapping net.ErrClosed.
func (c *conn) Close() error {
	first := false
	c.closeOnce.Do(func() { first = true; close(c.closed) })
	if !first {
		return c.opError("close", net.ErrClosed)
	}
	c.rdl.Stop()
	c.wdl.Stop()
	if c.raw != nil {
		// Wake pending calls, which then see the conn closed.
		past := time.Unix(1, 0)
		_ = c.raw.SetReadDeadline(past)
		_ = c.raw.SetWriteDeadline(past)
	}
	var err error
	if !isClosed(c.gone) && !isClosed(c.g.exited()) {
		// The end of the data tells the plugin it has all the writes
		// to finish before it closes its Conn.
		c.sendMu.Lock()
		data := net.Conn(c.raw)
		if c.raw == nil {
			data = c.data
		}
		if cw, ok := data.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		c.sendMu.Unlock()
		if c.stream.Send(&pb.HostFrame{Frame: &pb.HostFrame_Close{Close: &pb.Close{}}}) == nil {
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
	_ = c.data.Close()
	if c.raw != nil {
		_ = c.raw.Close()
	}
	<-c.recvDone
	<-c.dataDone
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

// SetReadDeadline is enforced here only (on a stream, by the raw
// channel's socket): the plugin reads ahead regardless.
func (c *conn) SetReadDeadline(t time.Time) error {
	if err := c.failed("set-deadline"); err != nil {
		return err
	}
	if c.raw != nil {
		return c.raw.SetReadDeadline(t)
	}
	c.rdl.Set(t)
	return nil
}

// SetWriteDeadline is enforced here (on a stream, by the raw channel's
// socket). On a datagram conn it is also forwarded to the plugin's Conn,
// in order with the datagrams; a stream conn's plugin writes what the
// window took regardless (see Write).
func (c *conn) SetWriteDeadline(t time.Time) error {
	if err := c.failed("set-deadline"); err != nil {
		return err
	}
	if c.raw != nil {
		return c.raw.SetWriteDeadline(t)
	}
	c.wdl.Set(t)
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	if err := c.send(wire.FrameDeadline, wire.Uint64(uint64(ns))); err != nil {
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
