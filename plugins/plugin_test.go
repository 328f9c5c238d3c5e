package plugins_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/plugins"
	"github.com/iotd/iotd/plugins/internal/wire"
)

func TestLoadDescribes(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	var names []string
	for _, d := range p.Drivers() {
		names = append(names, d.Name())
	}
	assert.Equal(t, []string{"tcp", "tls", "udp", "dtls", "test.errors", "test.radio"}, names)
	assert.Equal(t, plugins.Running, p.State())
	assert.Equal(t, "iotd-driver-test", p.Name())

	tests := []struct {
		name       string
		transports []driver.Transport
		version    string // "" : none advertised
		maxPayload int    // 0: none advertised
	}{
		{"tcp", []driver.Transport{driver.Stream}, "", 0},
		{"udp", []driver.Transport{driver.Datagram}, "", 65507},
		{"dtls", []driver.Transport{driver.Datagram}, "", 0},
		{"test.errors", []driver.Transport{driver.Stream}, "0.0.1-test", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := driverOf(t, p, tt.name).(driver.Driver)
			assert.Equal(t, tt.transports, d.Transports())
			v, err := driver.Lookup[driver.Versioner](d)
			if tt.version == "" {
				assert.ErrorIs(t, err, driver.ErrNotSupported)
			} else if assert.NoError(t, err) {
				assert.Equal(t, tt.version, v.Version())
			}
			m, err := driver.Lookup[driver.MaxPayloader](d)
			if tt.maxPayload == 0 {
				assert.ErrorIs(t, err, driver.ErrNotSupported)
			} else if assert.NoError(t, err) {
				assert.Equal(t, tt.maxPayload, m.MaxPayload())
			}
			assert.NoError(t, d.Probe(t.Context()))
		})
	}
}

func TestRegister(t *testing.T) {
	p, _ := load(t, plugins.Options{})

	reg := core.NewRegistry()
	require.NoError(t, plugins.Register(reg, p))
	assert.Equal(t, []string{"dtls", "tcp", "test.errors", "test.radio", "tls", "udp"}, reg.Names())
	res := reg.Probe(t.Context(), 5*time.Second)
	require.Len(t, res, 6)
	for _, r := range res {
		assert.Equal(t, core.Loaded, r.State, r.Name)
	}
	assert.Equal(t, "0.0.1-test", res[2].Version)

	clash := core.NewRegistry()
	require.NoError(t, clash.Register(posix.NewTCP()))
	err := plugins.Register(clash, p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"tcp"`)
	assert.Contains(t, err.Error(), "already registered")
	assert.Contains(t, err.Error(), p.Path())
}

func TestSentinelsCrossTheBoundary(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	d := driverOf(t, p, "test.errors").(driver.Driver)
	all := wire.Sentinels()
	for i, want := range all {
		t.Run(want.Error(), func(t *testing.T) {
			_, err := d.Open([]byte(`{"sentinel":` + strconv.Itoa(i) + `}`))
			require.Error(t, err)
			assert.Equal(t, "test.errors: open: "+want.Error()+": the cause", err.Error())
			for _, other := range all {
				// What errors.Is says on the host is what it says in process.
				inProcess := errors.Is(wrapLikePlugin(want), other)
				assert.Equal(t, inProcess, errors.Is(err, other), "errors.Is(%q, %q)", err, other)
			}
			var ne net.Error
			if want == os.ErrDeadlineExceeded || want == context.DeadlineExceeded {
				require.ErrorAs(t, err, &ne)
				assert.True(t, ne.Timeout())
			}
		})
	}
}

func wrapLikePlugin(s error) error { return errors.Join(s) }

func TestReadDeadlineIsLocal(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	addr := tcpServer(t, echo)
	conn := dial(t, p, "tcp", driver.Stream, addr)

	require.NoError(t, conn.SetReadDeadline(time.Now().Add(-time.Second)))
	_, err := conn.Read(make([]byte, 8))
	assertTimeout(t, err)

	_, err = conn.Write([]byte("ping"))
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	buf := make([]byte, 4)
	// the echo arrives or the short deadline passes first; either way, once
	// extended the conn reads the echo
	if _, err = io.ReadFull(conn, buf); err != nil {
		assertTimeout(t, err)
		require.NoError(t, conn.SetReadDeadline(time.Time{}))
		_, err = io.ReadFull(conn, buf)
	}
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf))

	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Millisecond)))
	_, err = conn.Read(buf)
	assertTimeout(t, err)
}

func TestWriteDeadlineReachesPlugin(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	hold := make(chan struct{})
	addr := tcpServer(t, func(c net.Conn) { <-hold; c.Close() }) // reads nothing
	t.Cleanup(func() { close(hold) })
	conn := dial(t, p, "tcp", driver.Stream, addr)
	require.NoError(t, conn.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
	var err error
	var total int
	for err == nil {
		var n int
		n, err = conn.Write(make([]byte, 1<<20))
		total += n
	}
	assertTimeout(t, err)
	assert.Positive(t, total, "some data went out before the kernel buffers filled")
	require.NoError(t, conn.SetWriteDeadline(time.Now().Add(-time.Second)))
	_, err = conn.Write([]byte("x"))
	assertTimeout(t, err)
}

func assertTimeout(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	if assert.ErrorAs(t, err, &ne) {
		assert.True(t, ne.Timeout())
	}
}

func dial(t *testing.T, p *plugins.Plugin, name string, tr driver.Transport, addr string) driver.Conn {
	t.Helper()
	dl, err := driverOf(t, p, name).(driver.Driver).Open(nil)
	require.NoError(t, err)
	conn, err := dl.Dial(t.Context(), tr, addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestCloseUnblocksRead(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	hold := make(chan struct{})
	addr := tcpServer(t, func(c net.Conn) { <-hold; c.Close() })
	t.Cleanup(func() { close(hold) })
	conn := dial(t, p, "tcp", driver.Stream, addr)
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Read(make([]byte, 8))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Read block; the result does not depend on it
	require.NoError(t, conn.Close())
	err := <-errc
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.ErrorIs(t, conn.Close(), net.ErrClosed)
	_, err = conn.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestEOFAndReset(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	tests := []struct {
		name  string
		close func(*net.TCPConn)
		check func(t *testing.T, err error)
	}{
		{"orderly close is io.EOF", func(c *net.TCPConn) { c.Close() }, func(t *testing.T, err error) {
			assert.Equal(t, io.EOF, err)
		}},
		{"abortive close is ErrReset", func(c *net.TCPConn) { _ = c.SetLinger(0); c.Close() }, func(t *testing.T, err error) {
			assert.ErrorIs(t, err, driver.ErrReset)
			assert.NotErrorIs(t, err, io.EOF)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tcpServer(t, func(c net.Conn) {
				_, _ = c.Write([]byte("hello"))
				buf := make([]byte, 2)
				_, _ = io.ReadFull(c, buf) // the client's "ok": it has read hello
				tt.close(c.(*net.TCPConn))
			})
			conn := dial(t, p, "tcp", driver.Stream, addr)
			buf := make([]byte, 5)
			_, err := io.ReadFull(conn, buf)
			require.NoError(t, err)
			assert.Equal(t, "hello", string(buf))
			_, err = conn.Write([]byte("ok"))
			require.NoError(t, err)
			_, err = conn.Read(buf)
			tt.check(t, err)
		})
	}
}

func TestCloseWrite(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	addr := tcpServer(t, func(c net.Conn) {
		b, _ := io.ReadAll(c) // until the half-close
		_, _ = c.Write([]byte(strings.ToUpper(string(b))))
		c.Close()
	})
	conn := dial(t, p, "tcp", driver.Stream, addr)
	_, err := conn.Write([]byte("half"))
	require.NoError(t, err)
	cw, ok := conn.(interface{ CloseWrite() error })
	require.True(t, ok)
	require.NoError(t, cw.CloseWrite())
	b, err := io.ReadAll(conn)
	require.NoError(t, err)
	assert.Equal(t, "HALF", string(b))
}

func TestDatagramBoundaries(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	conn := dial(t, p, "udp", driver.Datagram, pc.LocalAddr().String())
	m, err := driver.Lookup[driver.MaxPayloader](conn)
	require.NoError(t, err)
	assert.Positive(t, m.MaxPayload())
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	for _, msg := range []string{"one", "two-two", "three"} {
		_, err := conn.Write([]byte(msg))
		require.NoError(t, err)
	}
	for _, want := range []string{"one", "two-two", "three"} {
		buf := make([]byte, 100)
		n, err := conn.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, want, string(buf[:n]))
	}
	_, err = conn.Write([]byte("truncated"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	n, err := conn.Read(buf)
	assert.ErrorIs(t, err, driver.ErrShortBuffer)
	assert.Equal(t, "trun", string(buf[:n]))
}

func TestLoadDriver(t *testing.T) {
	quiet := plugins.Options{Logger: slog.New(slog.DiscardHandler)}
	tests := []struct {
		name, driver, bin, err string
	}{
		{name: "named", bin: "test", driver: "udp"},
		{name: "the only one", bin: "example", driver: ""},
		{name: "ambiguous", bin: "test", driver: "", err: "serves 6 drivers (tcp, tls, udp, dtls, test.errors, test.radio); name one"},
		{name: "missing", bin: "test", driver: "nope", err: `serves no driver "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := testPlugin(t)
			if tt.bin == "example" {
				bin = examplePlugin(t)
			}
			d, p, err := plugins.LoadDriver(t.Context(), bin, tt.driver, quiet)
			if tt.err != "" {
				assert.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			defer p.Close()
			var lc conformance.Lifecycle = p // the suite's hook
			require.NoError(t, lc.Restarted(t.Context()))
			if tt.driver != "" {
				assert.Equal(t, tt.driver, d.Name())
			}
		})
	}
}
