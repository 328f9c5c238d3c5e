package plugins_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/internal/testlog"
	"github.com/iotd/iotd/plugins"
)

// buildDir holds the plugin binaries built once per test run.
var (
	buildDir  string
	buildOnce sync.Once
	buildErr  error
	testBin   string

	exampleOnce sync.Once
	exampleErr  error
	exampleBin  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// testPlugin builds plugins/internal/testplugin (once per package run) and
// returns the binary's path.
func testPlugin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "iotd-plugins-test-"); buildErr != nil {
			return
		}
		testBin = filepath.Join(buildDir, "iotd-driver-test")
		out, err := exec.Command("go", "build", "-o", testBin, "./internal/testplugin").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	require.NoError(t, buildErr)
	return testBin
}

// examplePlugin builds the example vendor module (its own Go module, in
// plugins/example) once per package run and returns the binary's path.
func examplePlugin(t testing.TB) string {
	t.Helper()
	testPlugin(t) // creates buildDir
	exampleOnce.Do(func() {
		exampleBin = filepath.Join(buildDir, "iotd-driver-example")
		cmd := exec.Command("go", "build", "-o", exampleBin, ".")
		cmd.Dir = "example"
		if out, err := cmd.CombinedOutput(); err != nil {
			exampleErr = &buildError{err: err, out: string(out)}
		}
	})
	require.NoError(t, exampleErr)
	return exampleBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// load launches the test plugin with quick restarts and stops it when the
// test ends. Its logs go to a buffer it returns.
func load(t testing.TB, opts plugins.Options) (*plugins.Plugin, *testlog.Buffer) {
	t.Helper()
	logs := &testlog.Buffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 10*time.Millisecond, 100*time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := plugins.Load(ctx, testPlugin(t), opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p, logs
}

// driverOf returns the plugin's driver called name.
func driverOf(t testing.TB, p *plugins.Plugin, name string) interface {
	Name() string
} {
	t.Helper()
	for _, d := range p.Drivers() {
		if d.Name() == name {
			return d
		}
	}
	t.Fatalf("plugin has no driver %q", name)
	return nil
}

// tcpServer accepts loopback connections and hands each to handle.
func tcpServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echo copies what it reads back until the peer closes.
func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
