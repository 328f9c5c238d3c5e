package conformance

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
)

// The cases below hold for every transport; open returns a conn to an
// echo peer (ECHO for streams, the datagram echo for datagrams) and ping
// checks that it still echoes.

func caseAddresses(c *C, open func(*C) driver.Conn) {
	conn := open(c)
	for name, a := range map[string]net.Addr{"LocalAddr": conn.LocalAddr(), "RemoteAddr": conn.RemoteAddr()} {
		if !assert.NotNil(c, a, "%s must never be nil", name) {
			continue
		}
		assert.NotEmpty(c, a.Network(), "%s().Network()", name)
		assert.NotEmpty(c, a.String(), "%s().String()", name)
	}
}

func caseReadDeadline(c *C, open func(*C) driver.Conn, ping func(*C, driver.Conn)) {
	conn := open(c)
	require.NoError(c, conn.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err := conn.Read(make([]byte, 64))
	c.isTimeout(err, "Read")
	// Extending the deadline after a timeout makes the conn usable again.
	require.NoError(c, conn.SetReadDeadline(time.Time{}))
	ping(c, conn)
}

func casePastDeadline(c *C, open func(*C) driver.Conn, ping func(*C, driver.Conn)) {
	conn := open(c)
	require.NoError(c, conn.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err := conn.Read(make([]byte, 64))
	c.isTimeout(err, "Read with a deadline in the past")
	require.NoError(c, conn.SetReadDeadline(time.Time{}))
	ping(c, conn)
	// A write timeout may leave a secure conn unusable for writing (TLS
	// does), so it is checked last.
	require.NoError(c, conn.SetWriteDeadline(time.Now().Add(-time.Second)))
	_, err = conn.Write([]byte("late"))
	c.isTimeout(err, "Write with a deadline in the past")
}

func caseCloseUnblocksRead(c *C, open func(*C) driver.Conn) {
	conn := open(c)
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Read(make([]byte, 64))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Read block; correctness does not depend on it
	require.NoError(c, conn.Close())
	err := wait(c, errc, "Read pending during Close")
	assert.ErrorIs(c, err, net.ErrClosed, "a Read unblocked by Close")
}

func caseCloseTwice(c *C, open func(*C) driver.Conn) {
	conn := open(c)
	require.NoError(c, conn.Close(), "first Close")
	if err := conn.Close(); err != nil {
		assert.ErrorIs(c, err, net.ErrClosed, "a second Close returns nil or net.ErrClosed")
	}
	_, err := conn.Read(make([]byte, 8))
	assert.ErrorIs(c, err, net.ErrClosed, "Read after Close")
	assert.False(c, errors.Is(err, io.EOF), "Read after Close must not be io.EOF")
	_, err = conn.Write([]byte("x"))
	assert.ErrorIs(c, err, net.ErrClosed, "Write after Close")
}
