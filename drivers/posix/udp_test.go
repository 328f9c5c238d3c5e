package posix_test

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

// udpEcho runs a loopback UDP echo server until the test ends.
func udpEcho(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 70000)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := pc.WriteTo(buf[:n], from); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String()
}

func dialUDP(t *testing.T, cfg any, addr string) driver.Conn {
	t.Helper()
	c, err := open(t, posix.NewUDP(), cfg).Dial(testCtx(t), driver.Datagram, addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	return c
}

func TestUDPOneDatagramPerRead(t *testing.T) {
	c := dialUDP(t, nil, udpEcho(t))
	sizes := []int{1, 0, 300, 1472, 9000, posix.MaxUDPPayload}
	for _, n := range sizes {
		p := bytes.Repeat([]byte{byte(n)}, n)
		w, err := c.Write(p)
		require.NoError(t, err, "size %d", n)
		assert.Equal(t, n, w)
		buf := make([]byte, 70000)
		r, err := c.Read(buf)
		require.NoError(t, err, "size %d", n)
		assert.Equal(t, n, r)
		assert.Equal(t, p, buf[:r])
	}
	// Several datagrams in flight stay separate.
	for _, s := range []string{"a", "bb", "ccc"} {
		_, err := c.Write([]byte(s))
		require.NoError(t, err)
	}
	var got []string
	for i := 0; i < 3; i++ {
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		require.NoError(t, err)
		got = append(got, string(buf[:n]))
	}
	assert.Equal(t, []string{"a", "bb", "ccc"}, got)
}

func TestUDPShortBuffer(t *testing.T) {
	c := dialUDP(t, nil, udpEcho(t))
	_, err := c.Write([]byte("0123456789"))
	require.NoError(t, err)
	_, err = c.Write([]byte("next"))
	require.NoError(t, err)

	buf := make([]byte, 4)
	n, err := c.Read(buf)
	assert.ErrorIs(t, err, driver.ErrShortBuffer)
	assert.Equal(t, 4, n)
	assert.Equal(t, "0123", string(buf))

	// The rest of the long datagram is gone; the next one is intact.
	n, err = c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "next", string(buf[:n]))
}

func TestUDPTooLarge(t *testing.T) {
	rows := []struct {
		name string
		cfg  any
		max  int
	}{
		{"default limit", nil, posix.MaxUDPPayload},
		{"configured limit", posix.UDPConfig{MaxDatagram: 100}, 100},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			c := dialUDP(t, row.cfg, udpEcho(t))
			mp, err := driver.Lookup[driver.MaxPayloader](c)
			require.NoError(t, err)
			assert.Equal(t, row.max, mp.MaxPayload())

			n, err := c.Write(make([]byte, row.max+1))
			assert.ErrorIs(t, err, driver.ErrTooLarge)
			assert.Equal(t, 0, n)

			// Nothing was sent: the first echo is the next datagram.
			_, err = c.Write([]byte("small"))
			require.NoError(t, err)
			buf := make([]byte, 70000)
			n, err = c.Read(buf)
			require.NoError(t, err)
			assert.Equal(t, "small", string(buf[:n]))
		})
	}
}

func TestUDPRefused(t *testing.T) {
	c := dialUDP(t, nil, closedPort(t, "udp"))
	// The first datagram draws an ICMP port unreachable, which the kernel
	// reports on the connected socket at the next call.
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		if _, err = c.Write([]byte("anyone?")); err == nil {
			_, err = c.Read(make([]byte, 16))
		}
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, driver.ErrRefused)
}

func TestUDPDeadlineAndClose(t *testing.T) {
	c := dialUDP(t, nil, udpEcho(t))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err := c.Read(make([]byte, 8))
	assertTimeout(t, err)

	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = c.Read(make([]byte, 8))
	assertTimeout(t, err)

	require.NoError(t, c.SetReadDeadline(time.Time{}))
	_, err = c.Write([]byte("still usable"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "still usable", string(buf[:n]))

	assert.NotNil(t, c.LocalAddr())
	assert.NotNil(t, c.RemoteAddr())
	assertClosedUnblocks(t, c)
}

func TestUDPDialErrors(t *testing.T) {
	dl := open(t, posix.NewUDP(), nil)
	_, err := dl.Dial(testCtx(t), driver.Stream, "127.0.0.1:1")
	assert.ErrorIs(t, err, driver.ErrNotSupported)
	_, err = dl.Dial(testCtx(t), driver.Datagram, "nonexistent.invalid:5684")
	assert.ErrorIs(t, err, driver.ErrUnreachable)
	assert.True(t, strings.HasPrefix(err.Error(), "udp: "), err.Error())
	var ne net.Error
	assert.True(t, errors.As(err, &ne))
}
