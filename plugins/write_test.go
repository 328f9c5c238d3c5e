package plugins_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins"
)

// received is what a sink peer read before the end of the stream.
type received struct {
	n   int
	sum [sha256.Size]byte
	err error
}

// TestWriteThenCloseDeliversAll: data written (and queued in the write
// window) before Close reaches the peer in full, then the end of stream,
// as from a kernel socket; the peer starts reading late, so that much of
// the data is still queued in the plugin when Close is called.
func TestWriteThenCloseDeliversAll(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	got := make(chan received, 1)
	addr := tcpServer(t, func(c net.Conn) {
		defer c.Close()
		time.Sleep(200 * time.Millisecond) // let the window fill; the result does not depend on it
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r received
		r.n, r.err = int(n), err
		copy(r.sum[:], h.Sum(nil))
		got <- r
	})
	conn := dial(t, p, "tcp", driver.Stream, addr)
	data := make([]byte, 6<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	for off, k := 0, 1; off < len(data); k = k*5%70000 + 1 {
		n, err := conn.Write(data[off:min(off+k, len(data))])
		require.NoError(t, err)
		off += n
	}
	require.NoError(t, conn.Close())
	var r received
	select {
	case r = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("the peer did not see the end of the stream")
	}
	require.NoError(t, r.err, "the peer reads all the data, then a clean end of stream")
	assert.Equal(t, len(data), r.n)
	assert.Equal(t, sha256.Sum256(data), r.sum)
}

// TestWriteErrorIsReportedByLaterCalls: an error of the plugin driver's
// Write (here: the peer reset the connection) comes back from a later
// Write, and from every call after it, Close included, with its sentinel.
func TestWriteErrorIsReportedByLaterCalls(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	addr := tcpServer(t, func(c net.Conn) {
		_ = c.(*net.TCPConn).SetLinger(0)
		c.Close() // RST
	})
	conn := dial(t, p, "tcp", driver.Stream, addr)
	require.NoError(t, conn.SetWriteDeadline(time.Now().Add(20*time.Second))) // a guard only
	chunk := bytes.Repeat([]byte("w"), 32<<10)
	var err error
	for sent := 0; err == nil && sent < 1<<30; sent += len(chunk) {
		_, err = conn.Write(chunk)
	}
	require.ErrorIs(t, err, driver.ErrReset)
	assert.NotErrorIs(t, err, net.ErrClosed)
	for _, call := range []struct {
		name string
		do   func() error
	}{
		{"Write", func() error { _, err := conn.Write([]byte("x")); return err }},
		{"another Write", func() error { _, err := conn.Write([]byte("y")); return err }},
		{"CloseWrite", func() error { return conn.(interface{ CloseWrite() error }).CloseWrite() }},
		{"Close", conn.Close},
	} {
		assert.ErrorIs(t, call.do(), driver.ErrReset, call.name)
	}
	_, err = conn.Write([]byte("z"))
	assert.ErrorIs(t, err, net.ErrClosed, "a Write after Close")
}

// TestDatagramTooLargeIsSynchronous: a datagram over the Conn's max
// payload fails in Write itself with ErrTooLarge and sends nothing, and
// the conn goes on working.
func TestDatagramTooLargeIsSynchronous(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	conn := dial(t, p, "udp", driver.Datagram, pc.LocalAddr().String())
	m, err := driver.Lookup[driver.MaxPayloader](conn)
	require.NoError(t, err)
	n, err := conn.Write(make([]byte, m.MaxPayload()+1))
	require.ErrorIs(t, err, driver.ErrTooLarge)
	assert.Equal(t, 0, n)
	for _, msg := range []string{"after", "too large"} {
		_, err = conn.Write([]byte(msg))
		require.NoError(t, err)
	}
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 70000)
	for _, want := range []string{"after", "too large"} {
		k, _, err := pc.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, want, string(buf[:k]), "boundaries kept, nothing of the oversized datagram sent")
	}
}
