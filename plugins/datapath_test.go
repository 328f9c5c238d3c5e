package plugins_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins"
)

func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*7 + seed) % 251)
	}
	return b
}

// TestWriteDeadlineSlowDriver: behind the plugin a driver that takes bytes
// slowly (a modem's pace) fills the write window, and a write deadline set
// on the host conn then ends Write with a timeout. What Write counted as
// written is written, in order, with nothing lost or added, once the
// deadline is lifted.
func TestWriteDeadlineSlowDriver(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	addr := tcpServer(t, echo)
	dl, err := driverOf(t, p, "test.radio").(driver.Driver).Open([]byte(`{"bytes_per_second": 1000000}`))
	require.NoError(t, err)
	c, err := dl.Dial(t.Context(), driver.Stream, addr)
	require.NoError(t, err)
	defer c.Close()

	msg := pattern(64<<20, 3) // far more than the driver takes before the deadline
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
	n, err := c.Write(msg)
	require.Error(t, err, "a 64 MiB Write at 1 MB/s ended before its deadline")
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "want a timeout, got %v", err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Less(t, n, len(msg))

	// The bytes Write counted arrive, then those of the next Write.
	require.NoError(t, c.SetWriteDeadline(time.Time{}))
	tail := pattern(100, 9)
	_, err = c.Write(tail)
	require.NoError(t, err)
	want := append(append([]byte(nil), msg[:n]...), tail...)
	got := make([]byte, len(want))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Minute)))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestCloseFlushes: what a Write returned for is written before the
// plugin closes the Conn, as a kernel's socket buffer would be.
func TestCloseFlushes(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	got := make(chan []byte, 1)
	addr := tcpServer(t, func(c net.Conn) {
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	})
	c := dial(t, p, "tcp", driver.Stream, addr)
	msg := pattern(200<<10, 5)
	for i := 0; i < len(msg); i += 1000 {
		_, err := c.Write(msg[i:min(i+1000, len(msg))])
		require.NoError(t, err)
	}
	require.NoError(t, c.Close())
	select {
	case b := <-got:
		require.Equal(t, msg, b)
	case <-time.After(time.Minute):
		t.Fatal("the peer did not see the connection end")
	}
}

// TestOldProtocolRefused: a plugin built for protocol version 1 is refused
// at Load with an error that names both versions.
func TestOldProtocolRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := plugins.Load(ctx, testPlugin(t), plugins.Options{Env: []string{"IOTD_TESTPLUGIN_PROTOCOL=1"}, Logger: slog.New(slog.DiscardHandler)})
	t.Log(err)
	require.Error(t, err)
	assert.ErrorIs(t, err, plugins.ErrProtocolVersion)
	assert.Contains(t, err.Error(), "Plugin version: 1")
	assert.Contains(t, err.Error(), "version 2")
}

// TestWriteWindowFollowsDriver: a driver whose conns report a MaxPayload
// (a modem's send limit) gets a write window of a few sends, not 256 KiB,
// so that a write deadline on the host conn means what it would on the
// modem itself: behind a driver that takes bytes at 115200 baud, a loop of
// Writes with a deadline stops with a timeout once a few KB are queued
// between the host and the driver, not some 20 s of the modem's data.
func TestWriteWindowFollowsDriver(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	var taken atomic.Int64 // what the slow driver has passed on to the peer
	addr := tcpServer(t, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			taken.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	dl, err := driverOf(t, p, "test.radio").(driver.Driver).Open([]byte(`{"bytes_per_second": 11520}`))
	require.NoError(t, err)
	c, err := dl.Dial(t.Context(), driver.Stream, addr)
	require.NoError(t, err)
	defer c.Close()
	m, err := driver.Lookup[driver.MaxPayloader](c)
	require.NoError(t, err)
	require.Equal(t, 1460, m.MaxPayload())

	chunk := pattern(1024, 1)
	var accepted int64
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(300*time.Millisecond)))
	for {
		n, err := c.Write(chunk)
		accepted += int64(n)
		if err != nil {
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout(), "want a timeout, got %v", err)
			break
		}
	}
	queued := accepted - taken.Load()
	t.Logf("accepted %d bytes, the driver took %d, queued %d", accepted, taken.Load(), queued)
	assert.Positive(t, accepted)
	assert.LessOrEqual(t, queued, int64(16<<10), "bytes queued between the host and a driver with MaxPayload 1460")
}
