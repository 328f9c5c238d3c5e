package conformance

import (
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
)

// guard bounds a single blocking step inside a case; it only stops a hang
// and is never a timing assertion.
const guard = 20 * time.Second

// dial opens a conn of transport t to addr and closes it after the case.
func (c *C) dial(t driver.Transport, addr string) driver.Conn {
	conn, err := c.s.dialer.Dial(c.ctx, t, addr)
	require.NoError(c, err, "Dial(%s, %s)", t, addr)
	require.NotNil(c, conn, "Dial returned a nil Conn without an error")
	c.Cleanup(func() { _ = conn.Close() })
	return conn
}

// stream dials the stream peer and sends cmd.
func (c *C) stream(cmd peer.Command) driver.Conn {
	conn := c.dial(driver.Stream, c.s.stream.Addr())
	require.NoError(c, conn.SetWriteDeadline(time.Now().Add(guard)))
	_, err := conn.Write(cmd.Line())
	require.NoError(c, err, "write the peer command %q", cmd)
	require.NoError(c, conn.SetWriteDeadline(time.Time{}))
	return conn
}

// datagram dials the datagram echo.
func (c *C) datagram() driver.Conn { return c.dial(driver.Datagram, c.s.dgramAddr) }

// pattern returns n bytes of a pattern that starts at offset seed.
func pattern(n, seed int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((i + seed) % 253)
	}
	return p
}

// readFull reads exactly len(p) bytes within the guard.
func (c *C) readFull(conn net.Conn, p []byte) {
	require.NoError(c, conn.SetReadDeadline(time.Now().Add(guard)))
	_, err := io.ReadFull(conn, p)
	require.NoError(c, err, "read %d bytes", len(p))
}

// echoOnce writes msg on a stream conn and reads it back.
func (c *C) echoOnce(conn net.Conn, msg []byte) {
	require.NoError(c, conn.SetWriteDeadline(time.Now().Add(guard)))
	_, err := conn.Write(msg)
	require.NoError(c, err, "write")
	got := make([]byte, len(msg))
	c.readFull(conn, got)
	assert.Equal(c, msg, got, "echoed bytes")
}

// isTimeout checks the contract's deadline error: os.ErrDeadlineExceeded
// and a net.Error whose Timeout() is true.
func (c *C) isTimeout(err error, op string) {
	require.Error(c, err, "%s past its deadline must fail", op)
	assert.ErrorIs(c, err, os.ErrDeadlineExceeded, "%s past its deadline", op)
	var ne net.Error
	if assert.ErrorAs(c, err, &ne, "%s timeout must implement net.Error", op) {
		assert.True(c, ne.Timeout(), "%s timeout: net.Error.Timeout()", op)
	}
	assert.False(c, errors.Is(err, io.EOF), "%s timeout must not be io.EOF", op)
}

// wait waits for ch within the guard, failing the case if it does not come.
func wait[T any](c *C, ch <-chan T, what string) T {
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		c.Errorf("%s: still blocked after %v", what, guard)
		c.FailNow()
	}
	panic("unreachable")
}
