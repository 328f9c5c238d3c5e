//go:build unix

package daemon

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/internal/testlog"
)

// notifySocket is a service manager's notify socket for a test: it sets
// NOTIFY_SOCKET (and WATCHDOG_USEC when usec is not empty) for the test.
type notifySocket struct {
	t    *testing.T
	conn *net.UnixConn
	seen []string
	// lines received and not yet looked at by await: a datagram may
	// carry several (READY=1 and the first STATUS=, say).
	lines []string
}

func listenNotify(t *testing.T, usec string) *notifySocket {
	t.Helper()
	// A short directory: a socket path has ~100 bytes at most.
	dir, err := os.MkdirTemp("", "iotd-notify")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_PID", "")
	t.Setenv("WATCHDOG_USEC", usec)
	return &notifySocket{t: t, conn: conn}
}

// await looks at the lines received, in order, reading datagrams as
// needed, until one for which match holds, and returns it; the lines after
// it are kept for the next await. The read deadline only bounds a broken
// test.
func (n *notifySocket) await(what string, match func(line string) bool) string {
	n.t.Helper()
	buf := make([]byte, 4096)
	require.NoError(n.t, n.conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	for {
		for len(n.lines) > 0 {
			l := n.lines[0]
			n.lines = n.lines[1:]
			if match(l) {
				return l
			}
		}
		k, err := n.conn.Read(buf)
		require.NoError(n.t, err, "waiting for %s; received so far:\n%s", what, strings.Join(n.seen, "\n--\n"))
		msg := string(buf[:k])
		n.seen = append(n.seen, msg)
		n.lines = append(n.lines, strings.Split(msg, "\n")...)
	}
}

func is(want string) func(string) bool { return func(l string) bool { return l == want } }

func TestNotifyReadyStatusWatchdog(t *testing.T) {
	ns := listenNotify(t, "200000") // 200 ms: keep-alives every 100 ms
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PNOTIFY001", "dev1", false)
	r := startDaemon(t, configFor(t, hub, dir, ""))

	ns.await("READY=1", is("READY=1"))
	// READY comes once the API serves.
	_, err := r.client.Status(t.Context())
	require.NoError(t, err)
	st := ns.await("STATUS with a connected link", func(l string) bool {
		return strings.HasPrefix(l, "STATUS=link connected")
	})
	assert.Contains(t, st, hub.TLSAddr())
	assert.Contains(t, st, "(tls)")
	// Keep-alives keep coming from the main loop.
	for range 3 {
		ns.await("WATCHDOG=1", is("WATCHDOG=1"))
	}

	// Link loss shows in STATUS.
	hub.Close()
	ns.await("STATUS with the link down", func(l string) bool {
		return strings.HasPrefix(l, "STATUS=link ") && !strings.HasPrefix(l, "STATUS=link connected")
	})
	r.stop()
	ns.await("STOPPING=1", is("STOPPING=1"))
}

func TestNotifyWithoutWatchdog(t *testing.T) {
	ns := listenNotify(t, "")
	n := notifierFromEnv()
	require.NotNil(t, n)
	assert.Zero(t, n.watchdog)

	t.Setenv("WATCHDOG_USEC", "5000000")
	t.Setenv("WATCHDOG_PID", "1") // another process's watchdog
	assert.Zero(t, notifierFromEnv().watchdog)
	t.Setenv("WATCHDOG_PID", "")
	assert.Equal(t, 5*time.Second, notifierFromEnv().watchdog)

	require.NoError(t, n.send("STATUS=a", "READY=1"))
	ns.await("READY=1", is("READY=1"))
	assert.Equal(t, []string{"STATUS=a\nREADY=1"}, ns.seen, "one datagram, lines in order")

	t.Setenv("NOTIFY_SOCKET", "")
	assert.Nil(t, notifierFromEnv())
	var none *notifier
	assert.NoError(t, none.send("READY=1"), "a nil notifier sends nothing")
}

func TestReloadOnSIGHUP(t *testing.T) {
	ns := listenNotify(t, "")
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PRELOAD001", "dev1", false)
	base := "device_info: device_info.json\nsocket: " + filepath.Join(dir, "iotd.sock") + "\n" +
		hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile())
	path := hubtest.WriteConfig(t, dir, base+"log: {level: info}\n")
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	logs := &testlog.Buffer{}
	d, err := New(cfg, testRegistry(t), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	require.NoError(t, err)
	stop := hubtest.RunReady(t, d.Run, d.Ready())
	defer stop()
	ns.await("READY=1", is("READY=1")) // SIGHUP is handled from here on

	d.log.Debug("before-reload")
	// A live change (log.level), one that needs a restart (mqtt), and a
	// secret-looking value that must not be logged.
	hubtest.WriteConfig(t, dir, base+"log: {level: debug}\nmqtt: {keepalive: 60s}\nregistration: {url: \"https://secret.example/x\"}\n")
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "changed mqtt, registration: restart iotd to apply")
	},
		20*time.Second, 10*time.Millisecond, "logs:\n%s", logs)
	out := logs.String()
	assert.Contains(t, out, `msg="reload: log level changed" level=debug`)
	assert.NotContains(t, out, "before-reload")
	assert.NotContains(t, out, "secret.example", "values are never logged")
	d.log.Debug("after-reload")
	d.first().log.Debug("device-after-reload")
	out = logs.String()
	assert.Contains(t, out, "after-reload")
	assert.Contains(t, out, "device-after-reload", "the devices' loggers follow")

	// An invalid file is refused; the daemon keeps running.
	hubtest.WriteConfig(t, dir, base+"log: {level: loud}\n")
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "configuration refused") },
		20*time.Second, 10*time.Millisecond, "logs:\n%s", logs)
	assert.Contains(t, logs.String(), "log.level")
	d.log.Debug("still-debug")
	assert.Contains(t, logs.String(), "still-debug")
}
