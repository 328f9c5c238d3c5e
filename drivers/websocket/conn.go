package websocket

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	gorilla "github.com/gorilla/websocket"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/core/driver/deadline"
)

const (
	// closeWait bounds the close frames this side sends (on Close, and
	// when refusing a text message): the peer may have stopped reading.
	closeWait = time.Second
	// maxBuffered is how many received bytes wait for Read before the
	// connection stops reading from its carrier.
	maxBuffered = 64 << 10
	// readChunk is the most moved from a message into the buffer at once.
	readChunk = 16 << 10
)

// errText is why reading ends when the peer sends a text message.
var errText = errors.New("websocket: the peer sent a text message; MQTT over WebSocket uses binary messages only")

// Conn is a byte stream carried in binary WebSocket messages, on either
// side of the connection. It follows the core/driver Conn rules:
//
//   - Read returns the bytes of consecutive messages as one stream: a
//     message's remainder is kept for the next Read, and one Read may end
//     where a message does. A text message from the peer is a protocol
//     error: the conn answers with close code 1003 and Read fails.
//   - Write sends p as exactly one binary message (one frame when p fits
//     the write buffer, 32 KiB for a dialled conn).
//   - The peer's close frame with code 1000, 1001 or none reads as io.EOF
//     after all data; another code, or the carrier ending without a close
//     frame, as driver.ErrReset. The carrier's errors keep their driver
//     sentinels.
//   - Deadlines never reach the carrier: gorilla/websocket treats any
//     timeout on it as fatal. A goroutine reads messages into a buffer
//     (at most 64 KiB ahead of Read), and each Write runs on a goroutine
//     the caller waits for, its deadline or Close. A Write that times out
//     returns len(p) with the timeout error: its message is committed and
//     will be sent whole, so the stream stays intact and the caller must
//     not send those bytes again.
//   - Close sends a close frame (code 1000) when no write is in flight,
//     waiting at most a second, then closes the carrier.
type Conn struct {
	ws       *gorilla.Conn
	rdl, wdl deadline.Timer
	closed   chan struct{} // closed by Close
	once     sync.Once
	readDone chan struct{} // closed when readLoop has returned

	rmu      sync.Mutex    // held through a Read: one reader at a time
	readable chan struct{} // a token when rbuf grew or rerr was set
	room     chan struct{} // a token when Read emptied part of rbuf
	idle     chan struct{} // holds a token while no write is in flight

	mu   sync.Mutex // guards the fields below
	rbuf bytes.Buffer
	rerr error // why reading ended, reported once rbuf is drained
	werr error // sticky error of a failed write
}

// NewConn makes a byte-stream Conn of an established WebSocket
// connection, client or server side; it owns ws from then on and starts
// reading it. The driver's Dial returns one; hubsim's listener makes one
// of each upgraded request.
func NewConn(ws *gorilla.Conn) *Conn {
	c := &Conn{
		ws:       ws,
		closed:   make(chan struct{}),
		readDone: make(chan struct{}),
		readable: make(chan struct{}, 1),
		room:     make(chan struct{}, 1),
		idle:     make(chan struct{}, 1),
	}
	c.idle <- struct{}{}
	// gorilla's own handler gives the pong a one-second deadline, and a
	// timeout on the carrier would break every later write: on a modem a
	// small write may take that long. A pong that fails is noticed by the
	// next read or write.
	ws.SetPingHandler(func(data string) error {
		_ = ws.WriteControl(gorilla.PongMessage, []byte(data), time.Time{})
		return nil
	})
	go c.readLoop()
	return c
}

// readLoop moves the payload of binary messages into rbuf until the
// connection fails, ends or is closed.
func (c *Conn) readLoop() {
	defer close(c.readDone)
	chunk := make([]byte, readChunk)
	for {
		kind, r, err := c.ws.NextReader()
		if err != nil {
			c.endRead(c.readError(err))
			return
		}
		if kind != gorilla.BinaryMessage {
			msg := gorilla.FormatCloseMessage(gorilla.CloseUnsupportedData, "binary messages only")
			_ = c.ws.WriteControl(gorilla.CloseMessage, msg, time.Now().Add(closeWait))
			c.endRead(errText)
			return
		}
		for err == nil {
			free := c.waitRoom()
			if free == 0 {
				return // closed
			}
			var n int
			n, err = r.Read(chunk[:min(free, len(chunk))])
			if n > 0 {
				c.mu.Lock()
				c.rbuf.Write(chunk[:n])
				c.mu.Unlock()
				signal(c.readable)
			}
		}
		if err != io.EOF { // io.EOF: the message ended
			c.endRead(c.readError(err))
			return
		}
	}
}

// waitRoom returns how many bytes rbuf may take, once it may take any, or
// 0 when the conn is closed.
func (c *Conn) waitRoom() int {
	for {
		c.mu.Lock()
		free := maxBuffered - c.rbuf.Len()
		c.mu.Unlock()
		if free > 0 {
			return free
		}
		select {
		case <-c.room:
		case <-c.closed:
			return 0
		}
	}
}

func (c *Conn) endRead(err error) {
	c.mu.Lock()
	c.rerr = err
	c.mu.Unlock()
	signal(c.readable)
}

// signal leaves a token in ch (capacity 1) unless one is there already.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Read reads the payload of the peer's binary messages as one stream.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if err := c.check("read", &c.rdl); err != nil {
			return 0, err
		}
		c.mu.Lock()
		n, _ := c.rbuf.Read(p)
		rerr := c.rerr
		c.mu.Unlock()
		if n > 0 {
			signal(c.room)
			return n, nil
		}
		if rerr != nil {
			return 0, rerr
		}
		if len(p) == 0 {
			return 0, nil
		}
		if err := c.wait(c.readable, "read", &c.rdl); err != nil {
			return 0, err
		}
	}
}

// Write sends p as one binary message; see the type's comment for what a
// timeout means.
func (c *Conn) Write(p []byte) (int, error) {
	// Wait for the previous write to finish.
	if err := c.wait(c.idle, "write", &c.wdl); err != nil {
		return 0, err
	}
	c.mu.Lock()
	werr := c.werr
	c.mu.Unlock()
	if werr != nil || len(p) == 0 {
		c.idle <- struct{}{}
		return 0, werr
	}
	msg := bytes.Clone(p) // the caller may reuse p once Write returns
	done := make(chan struct{}, 1)
	var err error // this write's; read once done yields
	go func() {
		if err = c.ws.WriteMessage(gorilla.BinaryMessage, msg); err != nil {
			err = c.writeError(err)
			c.mu.Lock()
			c.werr = err
			c.mu.Unlock()
		}
		c.idle <- struct{}{}
		done <- struct{}{}
	}()
	if werr := c.wait(done, "write", &c.wdl); werr != nil {
		if errors.Is(werr, net.ErrClosed) {
			return 0, werr
		}
		return len(p), werr
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// check returns the error of a call made after Close or past deadline d.
func (c *Conn) check(op string, d *deadline.Timer) error {
	if c.isClosed() {
		return c.opError(op, net.ErrClosed)
	}
	if d.Passed() {
		return c.opError(op, os.ErrDeadlineExceeded)
	}
	return nil
}

// wait takes a token from ch, or returns the error of Close or of the
// deadline d passing first.
func (c *Conn) wait(ch chan struct{}, op string, d *deadline.Timer) error {
	for {
		if err := c.check(op, d); err != nil {
			return err
		}
		select {
		case <-ch:
			return nil
		case <-c.closed:
		case <-d.Done(): // passed; look again, it may have moved since
		}
	}
}

// Close sends a close frame when no write is in flight, closes the
// carrier and unblocks pending calls. Calls after the first return an
// error wrapping net.ErrClosed.
func (c *Conn) Close() error {
	first := false
	c.once.Do(func() { first = true; close(c.closed) })
	if !first {
		return c.opError("close", net.ErrClosed)
	}
	select {
	case <-c.idle:
		// After the peer's close frame this returns ErrCloseSent at once.
		msg := gorilla.FormatCloseMessage(gorilla.CloseNormalClosure, "")
		_ = c.ws.WriteControl(gorilla.CloseMessage, msg, time.Now().Add(closeWait))
		c.idle <- struct{}{}
	default:
		// A message is half sent: a close frame cannot follow it.
	}
	err := c.ws.Close()
	<-c.readDone
	c.rdl.Stop()
	c.wdl.Stop()
	return err
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// LocalAddr is the carrier's local address.
func (c *Conn) LocalAddr() net.Addr { return c.ws.LocalAddr() }

// RemoteAddr is the carrier's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", net.ErrClosed)
	}
	c.rdl.Set(t)
	c.wdl.Set(t)
	return nil
}

// SetReadDeadline sets the deadline of pending and future Reads.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", net.ErrClosed)
	}
	c.rdl.Set(t)
	return nil
}

// SetWriteDeadline sets the deadline of pending and future Writes.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.isClosed() {
		return c.opError("set", net.ErrClosed)
	}
	c.wdl.Set(t)
	return nil
}

// Unwrap returns the carrier, for driver.Lookup (a modem's signal) and
// for a server that wants the TLS connection state.
func (c *Conn) Unwrap() net.Conn { return c.ws.NetConn() }

// Subprotocol is the subprotocol the server selected.
func (c *Conn) Subprotocol() string { return c.ws.Subprotocol() }

// opError is the error of a failed operation: *net.OpError, so that a
// deadline's error is a net.Error with Timeout true and errors.Is finds
// os.ErrDeadlineExceeded, net.ErrClosed or the driver sentinel in err.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "websocket", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// readError maps the error that ended reading.
func (c *Conn) readError(err error) error {
	if c.isClosed() {
		return c.opError("read", net.ErrClosed)
	}
	var ce *gorilla.CloseError
	if !errors.As(err, &ce) {
		return c.opError("read", err)
	}
	switch ce.Code {
	case gorilla.CloseNormalClosure, gorilla.CloseGoingAway, gorilla.CloseNoStatusReceived:
		return io.EOF
	case gorilla.CloseAbnormalClosure: // gorilla's name for the carrier's EOF
		return c.opError("read", fmt.Errorf("%w: the connection ended without a WebSocket close frame", driver.ErrReset))
	}
	return c.opError("read", fmt.Errorf("%w: the peer closed the WebSocket with %w", driver.ErrReset, err))
}

// writeError maps the error of a failed write.
func (c *Conn) writeError(err error) error {
	switch {
	case c.isClosed():
		return c.opError("write", net.ErrClosed)
	case errors.Is(err, gorilla.ErrCloseSent):
		return c.opError("write", fmt.Errorf("%w: the WebSocket is closing", driver.ErrReset))
	}
	return c.opError("write", err)
}

var _ driver.Conn = (*Conn)(nil)
