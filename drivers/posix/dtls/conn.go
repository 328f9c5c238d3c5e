package dtls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	piondtls "github.com/pion/dtls/v2"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/internal/neterr"
)

// refused is what a connected UDP socket reports after an ICMP port
// unreachable.
var refused error = syscall.ECONNREFUSED

func slogWarnInsecure(addr, serverName string) {
	slog.Warn("dtls: server certificate verification is OFF (insecure_skip_verify); this connection can be impersonated",
		"addr", addr, "server_name", serverName)
}

// conn adapts a pion DTLS connection to the driver contract: deadline errors
// match os.ErrDeadlineExceeded, Close yields net.ErrClosed, a short read
// buffer gets the start of the datagram and driver.ErrShortBuffer (pion
// would drop the datagram), oversized writes fail with driver.ErrTooLarge,
// and the end of the session is driver.ErrReset, never io.EOF.
type conn struct {
	dc     *piondtls.Conn
	max    int
	closed atomic.Bool

	rmu  sync.Mutex // guards rbuf
	rbuf []byte
}

func newConn(dc *piondtls.Conn, max int) *conn {
	return &conn{dc: dc, max: max}
}

// Read returns one datagram's payload.
func (c *conn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, neterr.Closed("read", c.LocalAddr())
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.rbuf == nil {
		c.rbuf = make([]byte, 8192)
	}
	n, err := c.dc.Read(c.rbuf)
	if err != nil {
		return 0, c.mapErr("read", err)
	}
	copied := copy(p, c.rbuf[:n])
	if copied < n {
		return copied, &neterr.Error{Op: "dtls: read", Kind: driver.ErrShortBuffer,
			Err: fmt.Errorf("datagram of %d bytes, buffer of %d", n, len(p))}
	}
	return copied, nil
}

// Write sends p in one record, or nothing when p exceeds the maximum.
func (c *conn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, neterr.Closed("write", c.LocalAddr())
	}
	if len(p) > c.max {
		return 0, &neterr.Error{Op: "dtls: write", Kind: driver.ErrTooLarge,
			Err: fmt.Errorf("%d bytes, the limit is %d", len(p), c.max)}
	}
	n, err := c.dc.Write(p)
	if err != nil {
		return 0, c.mapErr("write", err)
	}
	return n, nil
}

func (c *conn) mapErr(op string, err error) error {
	var ne net.Error
	switch {
	case c.closed.Load():
		return neterr.Closed(op, c.LocalAddr())
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return neterr.Timeout("dtls: "+op, err)
	case err == io.EOF, errors.Is(err, piondtls.ErrConnClosed):
		// pion ends the session this way when the peer sent close_notify
		// or a fatal alert.
		return &neterr.Error{Op: "dtls: " + op, Kind: driver.ErrReset, Err: errors.New("the peer ended the DTLS session")}
	}
	return neterr.Datagram("dtls: "+op, err)
}

// Close sends close_notify, closes the socket and unblocks pending calls.
func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return neterr.Closed("close", c.LocalAddr())
	}
	err := c.dc.Close()
	if errors.Is(err, piondtls.ErrConnClosed) {
		return nil // the peer had ended the session; the socket is closed now
	}
	return err
}

func (c *conn) LocalAddr() net.Addr  { return c.dc.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.dc.RemoteAddr() }

// SetDeadline, SetReadDeadline and SetWriteDeadline apply to pending and
// future calls, as pion implements them.
func (c *conn) SetDeadline(t time.Time) error      { return c.dc.SetDeadline(t) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.dc.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.dc.SetWriteDeadline(t) }

// MaxPayload reports the largest payload Write accepts.
func (c *conn) MaxPayload() int { return c.max }

// ConnectionState reports the negotiated session (cipher suite, peer
// certificates, PSK identity hint).
func (c *conn) ConnectionState() piondtls.State { return c.dc.ConnectionState() }

// Unwrap returns the pion connection, for driver.Lookup.
func (c *conn) Unwrap() any { return c.dc }

var (
	_ driver.Conn         = (*conn)(nil)
	_ driver.MaxPayloader = (*conn)(nil)
)
