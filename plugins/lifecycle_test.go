package plugins_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins"
)

func TestKillMidReadIsGoneAtOnce(t *testing.T) {
	p, logs := load(t, plugins.Options{})
	addr := tcpServer(t, echo)
	dl, err := driverOf(t, p, "tcp").(driver.Driver).Open(nil)
	require.NoError(t, err)
	conn, err := dl.Dial(t.Context(), driver.Stream, addr)
	require.NoError(t, err)
	defer conn.Close()

	errc := make(chan error, 1)
	go func() {
		_, err := conn.Read(make([]byte, 8)) // the echo sends nothing unasked
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Read block; the result does not depend on it
	require.NoError(t, p.Kill())
	// Kill returned once the process was gone; the pending Read has its
	// error without waiting for any timeout.
	var err2 error
	select {
	case err2 = <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("the pending Read did not return after the plugin was killed")
	}
	var gone *plugins.GoneError
	require.ErrorAs(t, err2, &gone)
	assert.ErrorIs(t, err2, driver.ErrBadConn)
	assert.Equal(t, "iotd-driver-test", gone.Plugin)
	assert.Equal(t, "signal: killed", gone.Status)
	_, err = conn.Write([]byte("x"))
	assert.ErrorIs(t, err, driver.ErrBadConn)
	_, err = conn.Read(make([]byte, 1))
	assert.ErrorIs(t, err, driver.ErrBadConn)

	// A Dial made now waits for the restart; the old Dialer still works.
	conn2, err := dl.Dial(t.Context(), driver.Stream, addr)
	require.NoError(t, err)
	defer conn2.Close()
	require.NoError(t, p.Restarted(t.Context()))
	assert.Equal(t, 1, p.Restarts())
	assert.Equal(t, plugins.Running, p.State())
	_, err = conn2.Write([]byte("again"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = io.ReadFull(conn2, buf)
	require.NoError(t, err)
	assert.Equal(t, "again", string(buf))
	assert.Contains(t, logs.String(), "plugin exited; restarting")
}

func TestLoadHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := plugins.Load(ctx, testPlugin(t), plugins.Options{Logger: slog.New(slog.DiscardHandler)})
	assert.ErrorIs(t, err, context.Canceled)

	_, err = plugins.Load(t.Context(), t.TempDir()+"/iotd-driver-missing", plugins.Options{Logger: slog.New(slog.DiscardHandler)})
	assert.ErrorContains(t, err, "iotd-driver-missing")
}

func TestDialDuringRestartIsBoundedByContext(t *testing.T) {
	// A plugin that cannot restart (its binary is replaced by a broken one)
	// leaves a Dial waiting until its context ends, then failing with a
	// GoneError that wraps the context's error.
	bin := copyBinary(t, testPlugin(t))
	p, err := plugins.Load(t.Context(), bin, plugins.Options{
		Logger:     slog.New(slog.DiscardHandler),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	dl, err := driverOf(t, p, "tcp").(driver.Driver).Open(nil)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin+".new", []byte("#!/bin/sh\nexit 7\n"), 0o755))
	require.NoError(t, os.Rename(bin+".new", bin))
	require.NoError(t, p.Kill())

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = dl.Dial(ctx, driver.Stream, "127.0.0.1:1")
	var gone *plugins.GoneError
	require.ErrorAs(t, err, &gone)
	assert.ErrorIs(t, err, driver.ErrBadConn)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, plugins.Restarting, p.State())

	require.NoError(t, p.Close())
	assert.Equal(t, plugins.Closed, p.State())
	_, err = dl.Dial(t.Context(), driver.Stream, "127.0.0.1:1")
	require.ErrorAs(t, err, &gone)
	assert.Equal(t, "closed", gone.Status)
}

func TestCrashIsGoneWithItsStatus(t *testing.T) {
	p, logs := load(t, plugins.Options{})
	addr := tcpServer(t, echo)
	conn := dial(t, p, "tcp", driver.Stream, addr)
	dl, err := driverOf(t, p, "test.radio").(driver.Driver).Open(nil)
	require.NoError(t, err)

	_, err = dl.Dial(t.Context(), driver.Stream, "crash:1") // the plugin panics
	var gone *plugins.GoneError
	require.ErrorAs(t, err, &gone)
	assert.Equal(t, "exit status 2", gone.Status)
	_, err = conn.Read(make([]byte, 1))
	require.ErrorAs(t, err, &gone)
	assert.Equal(t, "exit status 2", gone.Status)
	assert.Contains(t, err.Error(), "iotd-driver-test is gone (exit status 2)")

	require.NoError(t, p.Restarted(t.Context()))
	assert.Equal(t, 1, p.Restarts())
	assert.Contains(t, logs.String(), "asked to crash", "the panic reached the host's log")
	conn2 := dial(t, p, "tcp", driver.Stream, addr)
	_, err = conn2.Write([]byte("up"))
	assert.NoError(t, err)
}

func copyBinary(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	dst := t.TempDir() + "/iotd-driver-copy"
	require.NoError(t, os.WriteFile(dst, b, 0o755))
	return dst
}

func TestSHA256Pin(t *testing.T) {
	bin := testPlugin(t)
	b, err := os.ReadFile(bin)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	bad := strings.Repeat("ab", 32)

	_, err = plugins.Load(t.Context(), bin, plugins.Options{SHA256: bad, Logger: slog.New(slog.DiscardHandler)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refusing to start")
	assert.Contains(t, err.Error(), good, "names the binary's hash")
	assert.Contains(t, err.Error(), bad, "names the pin")

	p, _ := load(t, plugins.Options{SHA256: strings.ToUpper(good)})
	assert.Equal(t, plugins.Running, p.State())
}

func TestStdoutNoiseBeforeHandshake(t *testing.T) {
	p, logs := load(t, plugins.Options{Env: []string{"IOTD_TESTPLUGIN_NOISE=hello from init"}})
	assert.Len(t, p.Drivers(), 6)
	assert.Contains(t, logs.String(), "before its handshake")
	assert.Contains(t, logs.String(), "hello from init")
}

func TestPluginLogsReachSlog(t *testing.T) {
	p, logs := load(t, plugins.Options{})
	require.NoError(t, driverOf(t, p, "test.errors").(driver.Driver).Probe(t.Context()))
	// The line arrives on the plugin's stderr, asynchronously.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "probe-7f3a") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var line string
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, "probe-7f3a") {
			line = l
		}
	}
	require.NotEmpty(t, line, "the plugin's log line reached the host's logger")
	assert.Contains(t, line, "level=INFO")
	assert.Contains(t, line, `msg="testplugin: probe called"`)
	assert.Contains(t, line, "plugin=iotd-driver-test")
	assert.Contains(t, line, "marker=probe-7f3a")
}

// TestNoOrphanAfterHostSIGKILL runs a host in a subprocess (this test
// binary, as TestHelperHost), SIGKILLs it, and checks that its plugin dies
// with it.
func TestNoOrphanAfterHostSIGKILL(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux only; elsewhere the SDK's parent watch applies")
	}
	bin := testPlugin(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHost$")
	cmd.Env = append(os.Environ(), "IOTD_PLUGINS_HELPER_HOST="+bin)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	pid := 0
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "plugin-pid "); ok {
			pid, err = strconv.Atoi(s)
			require.NoError(t, err)
			break
		}
	}
	require.Positive(t, pid, "the helper host reported its plugin's pid")
	require.True(t, alive(pid), "the plugin runs")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.False(t, alive(pid), "plugin %d outlived its SIGKILLed host", pid)
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state is the field after the parenthesised command name
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] != 'Z' && s[i+2] != 'X'
}

// TestHelperHost is not a test: TestNoOrphanAfterHostSIGKILL runs it in a
// subprocess as a host that loads a plugin and waits to be killed.
func TestHelperHost(t *testing.T) {
	bin := os.Getenv("IOTD_PLUGINS_HELPER_HOST")
	if bin == "" {
		t.Skip("helper process for TestNoOrphanAfterHostSIGKILL")
	}
	p, err := plugins.Load(context.Background(), bin, plugins.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	fmt.Printf("plugin-pid %d\n", p.PID())
	time.Sleep(time.Minute)
}

func TestNoGoroutineLeak(t *testing.T) {
	addr := tcpServer(t, echo)
	before := runtime.NumGoroutine()
	func() {
		p, err := plugins.Load(t.Context(), testPlugin(t), plugins.Options{Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		defer p.Close()
		dl, err := driverOf(t, p, "tcp").(driver.Driver).Open(nil)
		require.NoError(t, err)
		for range 4 {
			conn, err := dl.Dial(t.Context(), driver.Stream, addr)
			require.NoError(t, err)
			_, err = conn.Write([]byte("leak?"))
			require.NoError(t, err)
			_, err = io.ReadFull(conn, make([]byte, 5))
			require.NoError(t, err)
			require.NoError(t, conn.Close())
		}
		// a conn left open is closed by the plugin's Close
		_, err = dl.Dial(t.Context(), driver.Stream, addr)
		require.NoError(t, err)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
