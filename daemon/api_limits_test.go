package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/localapi"
)

// newIdleDaemon builds a daemon that is not run: its local API can be
// served alone, with limits of the test's choosing.
func newIdleDaemon(t *testing.T) *Daemon {
	t.Helper()
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PAPILIM001", "dev1", false)
	d, err := New(configFor(t, hub, dir, ""), testRegistry(t), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Bus().Close() })
	return d
}

// serveAPI serves d's local API with limits until the test ends, and
// reports the most connections it served at a time.
func serveAPI(t *testing.T, d *Daemon, limits apiLimits) (maxConns func() int64) {
	t.Helper()
	s, err := d.listenAPIWith(limits)
	require.NoError(t, err)
	cl := &countingListener{Listener: s.ln}
	s.ln = cl
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return cl.most.Load
}

// countingListener counts the connections the server holds. A connection
// stops counting before the limit listener under it frees its slot, so the
// count never runs ahead of what the limit allows.
type countingListener struct {
	net.Listener
	open, most atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for m := l.most.Load(); n > m && !l.most.CompareAndSwap(m, n); m = l.most.Load() {
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

var shortLimits = apiLimits{
	HeaderTimeout: 100 * time.Millisecond,
	ReadTimeout:   100 * time.Millisecond,
	IdleTimeout:   100 * time.Millisecond,
	MaxConns:      4,
}

// closedByPeer reads from c until the daemon closes it.
func closedByPeer(t *testing.T, c net.Conn) bool {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
	_, err := io.Copy(io.Discard, c)
	return err == nil // EOF: closed by the daemon; a timeout is an error
}

func TestAPIClosesIdleConnections(t *testing.T) {
	d := newIdleDaemon(t)
	most := serveAPI(t, d, shortLimits)
	path := d.cfg.SocketPath()

	// Connections that never send a request, three times the cap; those
	// beyond it wait to be accepted, then time out in turn.
	var conns []net.Conn
	for range 3 * shortLimits.MaxConns {
		c, err := net.Dial("unix", path)
		require.NoError(t, err)
		defer c.Close()
		conns = append(conns, c)
	}
	// Keep-alive connections idle after one request.
	for range shortLimits.MaxConns {
		c, err := net.Dial("unix", path)
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, "GET /v1/status HTTP/1.1\r\nHost: iotd\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.False(t, resp.Close, "kept alive")
		conns = append(conns, c)
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { assert.True(t, closedByPeer(t, c), "connection %d closed by the daemon", i) })
	}
	wg.Wait()
	assert.LessOrEqual(t, most(), int64(shortLimits.MaxConns), "connections served at a time")

	// And the API still answers.
	_, err := localapi.New(path).Status(context.Background())
	assert.NoError(t, err)
}

func TestAPIBodyLimits(t *testing.T) {
	d := newIdleDaemon(t)
	limits := shortLimits
	limits.ReadTimeout = 2 * time.Second // room for 2 MiB under the race detector
	serveAPI(t, d, limits)
	path := d.cfg.SocketPath()
	// A connection per request: a kept-alive one could reach its idle
	// timeout just as the next request is written on it.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	post := func(body io.Reader) (int, string) {
		t.Helper()
		resp, err := hc.Post("http://iotd/v1/publish", "application/json", body)
		require.NoError(t, err)
		defer resp.Body.Close()
		var e struct{ Error string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
		return resp.StatusCode, e.Error
	}
	// A body of the limit reaches the handler (which refuses the topic).
	fits := func(n int) []byte {
		return fmt.Appendf(nil, `{"topic":"OTHER/dev/x","payload":"%s"}`, strings.Repeat("a", n-len(`{"topic":"OTHER/dev/x","payload":""}`)))
	}
	code, msg := post(bytes.NewReader(fits(localapi.MaxRequestBody)))
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, msg, "does not belong to this device")

	// One byte more is refused, whether its length is announced or not.
	for name, body := range map[string]io.Reader{
		"content-length": bytes.NewReader(fits(localapi.MaxRequestBody + 1)),
		"chunked":        io.MultiReader(bytes.NewReader(fits(localapi.MaxRequestBody + 1))), // no length known
	} {
		code, msg = post(body)
		assert.Equal(t, http.StatusRequestEntityTooLarge, code, name)
		assert.Contains(t, msg, "1048576-byte (1 MiB) limit", name)
	}

	// A body that does not come in time.
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "POST /v1/publish HTTP/1.1\r\nHost: iotd\r\nContent-Length: 100\r\n\r\n{")
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	assert.True(t, closedByPeer(t, c))
}

// A stream is not bounded by the header, read or idle timeouts.
func TestAPIStreamOutlivesTimeouts(t *testing.T) {
	d := newIdleDaemon(t)
	serveAPI(t, d, shortLimits)
	// Stand in for the uplink: accept every subscription.
	ctx, cancel := context.WithCancel(context.Background())
	stop, err := d.Bus().Serve(ctx, map[string]func(*message.Message){
		bus.TopicUplinkSubscribe:   func(m *message.Message) { _ = d.Bus().Reply(m, nil) },
		bus.TopicUplinkUnsubscribe: func(m *message.Message) { _ = d.Bus().Reply(m, nil) },
	})
	require.NoError(t, err)
	defer stop()
	defer cancel()

	got := make(chan localapi.Message, 1)
	sctx, scancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- localapi.Each(localapi.New(d.cfg.SocketPath()).Subscribe(sctx, "control", 0), func(m localapi.Message) error {
			got <- m
			return nil
		})
	}()
	const filter = "PAPILIM001/dev1/control"
	require.Eventually(t, func() bool { return d.Bus().CloudSubscribers(filter) == 1 }, 10*time.Second, 5*time.Millisecond)
	time.Sleep(5 * (shortLimits.HeaderTimeout + shortLimits.ReadTimeout + shortLimits.IdleTimeout))
	m := message.NewMessage(watermill.NewUUID(), []byte("late"))
	m.Metadata.Set(bus.MetaTopic, filter)
	require.NoError(t, d.Bus().Publish(bus.Downlink(filter), m))
	select {
	case msg := <-got:
		assert.Equal(t, "late", msg.Payload)
	case err := <-done:
		t.Fatalf("stream ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("message not streamed")
	}
	scancel()
	assert.NoError(t, <-done)
}

func TestAPISocketPathNotASocket(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(filepath.Join(dir, "elsewhere"), link))
	rows := []struct {
		name, path, kind string
		make             func(string) error
	}{
		{"regular file", filepath.Join(dir, "file"), "a regular file", func(p string) error { return os.WriteFile(p, []byte("keep me"), 0o600) }},
		{"directory", filepath.Join(dir, "dir"), "a directory", func(p string) error { return os.Mkdir(p, 0o700) }},
		{"symbolic link", link, "a symbolic link", func(string) error { return nil }},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			require.NoError(t, row.make(row.path))
			before, err := os.Lstat(row.path)
			require.NoError(t, err)
			d := newIdleDaemon(t)
			d.cfg.Socket = row.path
			err = d.Run(context.Background())
			require.Error(t, err)
			assert.Equal(t, fmt.Sprintf("api: %s is %s, not a socket; refusing to remove it: choose another socket path", row.path, row.kind), err.Error())
			after, err := os.Lstat(row.path)
			require.NoError(t, err, "left in place")
			assert.True(t, os.SameFile(before, after))
		})
	}
}

func TestAPIStaleSocketReplaced(t *testing.T) {
	d := newIdleDaemon(t)
	path := d.cfg.SocketPath()
	// A socket nobody answers on, as a crashed daemon leaves it.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	require.NoError(t, l.Close())
	serveAPI(t, d, defaultAPILimits)
	_, err = localapi.New(path).Status(context.Background())
	assert.NoError(t, err)
}

// At shutdown the daemon removes its socket, and only its socket.
func TestAPIRemovesOnlyItsSocket(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PAPILIM002", "dev1", false)
	cfg := configFor(t, hub, dir, "")
	path := cfg.SocketPath()

	r := startDaemon(t, cfg)
	// Stopped once connected: hubsim's Close races a connection it is
	// still accepting (mochi's EstablishConnection).
	r.waitStatus(t, "connected", connected)
	r.stop()
	_, err := os.Lstat(path)
	assert.ErrorIs(t, err, os.ErrNotExist, "its socket removed")

	r = startDaemon(t, cfg)
	r.waitStatus(t, "connected", connected)
	// Someone replaces the socket while the daemon runs.
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.WriteFile(path, []byte("not yours"), 0o600))
	r.stop()
	b, err := os.ReadFile(path)
	require.NoError(t, err, "left in place")
	assert.Equal(t, "not yours", string(b))
	assert.Contains(t, r.log.String(), "the socket path now names another file")
}
