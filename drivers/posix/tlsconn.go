package posix

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/internal/neterr"
)

// tlsConn is a client TLS connection whose errors and deadlines follow the
// driver contract:
//
//   - close_notify, or a clean TCP close at a record boundary, is io.EOF; a
//     truncated record or a reset is driver.ErrReset; a certificate alert
//     that TLS 1.3 delivers after the client's handshake is
//     driver.ErrHandshake.
//   - crypto/tls makes every later Write fail once a Write has timed out in
//     the middle of a record. To keep the connection usable after a write
//     deadline, the deadline is never handed to the socket: each Write runs
//     on a goroutine and the caller waits for it, its deadline, or Close. A
//     Write that times out returns len(p) with the timeout error: its bytes
//     are committed and will be sent after the record in progress, so the
//     stream stays intact and the caller must not send them again.
type tlsConn struct {
	*tls.Conn

	idle   chan struct{} // holds a token while no write is in flight
	closed chan struct{} // closed by Close
	once   sync.Once

	mu      sync.Mutex // guards the fields below
	werr    error      // sticky error of a background write
	wdl     time.Time  // write deadline
	wchange chan struct{}
}

func newTLSConn(c *tls.Conn) *tlsConn {
	t := &tlsConn{
		Conn:    c,
		idle:    make(chan struct{}, 1),
		closed:  make(chan struct{}),
		wchange: make(chan struct{}),
	}
	t.idle <- struct{}{}
	return t
}

func (c *tlsConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		select {
		case <-c.closed:
			// Our Close ended it, whatever the wire said (the peer may
			// have answered our close_notify, which reads as EOF).
			return n, neterr.Closed("read", c.LocalAddr())
		default:
		}
	}
	return n, tlsIOError("tls: read", err)
}

// Write sends p as application data; see the type's comment for timeouts.
func (c *tlsConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, neterr.Closed("write", c.LocalAddr())
	default:
	}
	// Wait for the previous write to finish.
	if err := c.await(c.idle); err != nil {
		return 0, err
	}
	c.mu.Lock()
	werr := c.werr
	c.mu.Unlock()
	if werr != nil {
		c.idle <- struct{}{}
		return 0, werr
	}
	buf := append([]byte(nil), p...)
	done := make(chan struct{}, 1)
	var n int
	go func() {
		var err error
		n, err = c.Conn.Write(buf)
		if err != nil {
			c.mu.Lock()
			c.werr = tlsIOError("tls: write", err)
			c.mu.Unlock()
		}
		done <- struct{}{}
		c.idle <- struct{}{}
	}()
	if err := c.await(done); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return 0, err
		}
		return len(p), err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n, c.werr
}

// await waits for a value on ch, the write deadline or Close.
func (c *tlsConn) await(ch chan struct{}) error {
	for {
		c.mu.Lock()
		dl, change := c.wdl, c.wchange
		c.mu.Unlock()
		var (
			expired <-chan time.Time
			timer   *time.Timer
		)
		if !dl.IsZero() {
			wait := time.Until(dl)
			if wait <= 0 {
				return neterr.Timeout("tls: write", nil)
			}
			timer = time.NewTimer(wait)
			expired = timer.C
		}
		var err error
		select {
		case <-ch:
		case <-c.closed:
			err = neterr.Closed("write", c.LocalAddr())
		case <-change:
			if timer != nil {
				timer.Stop()
			}
			continue
		case <-expired:
			err = neterr.Timeout("tls: write", nil)
		}
		if timer != nil {
			timer.Stop()
		}
		return err
	}
}

// SetDeadline sets the read deadline on the socket and the write deadline
// on the connection.
func (c *tlsConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetWriteDeadline sets the deadline Write waits for; see the type.
func (c *tlsConn) SetWriteDeadline(t time.Time) error {
	select {
	case <-c.closed:
		return neterr.Closed("set", c.LocalAddr())
	default:
	}
	c.mu.Lock()
	c.wdl = t
	close(c.wchange)
	c.wchange = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// Close sends close_notify when no write is in flight, closes the socket
// and unblocks pending calls.
func (c *tlsConn) Close() error {
	first := false
	c.once.Do(func() { first = true; close(c.closed) })
	err := c.Conn.Close()
	if !first && err == nil {
		return neterr.Closed("close", c.LocalAddr())
	}
	return err
}

// Unwrap returns the *tls.Conn, for driver.Lookup and ConnectionState.
func (c *tlsConn) Unwrap() net.Conn { return c.Conn }

func tlsIOError(op string, err error) error {
	var ne *net.OpError
	if err != nil && errors.As(err, &ne) && ne.Op == "remote error" {
		if strings.Contains(ne.Err.Error(), "certificate") {
			return &neterr.Error{Op: op, Kind: driver.ErrHandshake, Err: fmt.Errorf("%w (%s)", err, neterr.VerifyHint(err))}
		}
		return &neterr.Error{Op: op, Kind: driver.ErrReset, Err: err}
	}
	return neterr.Stream(op, err)
}
