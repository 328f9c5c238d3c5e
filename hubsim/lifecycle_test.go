package hubsim

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	h := startHub(t, "")
	_, err := h.CreateDevice("PLIFE00001", "dev", false)
	require.NoError(t, err)
	cl := connectKey(t, h, tcpConn(h), "PLIFE00001", "dev")
	cl.Disconnect(100)
	require.NoError(t, h.Close())
	require.NoError(t, h.Close(), "Close is idempotent")

	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestContextEndStopsHub(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	h, err := Start(ctx, Config{StateDir: dir, TLSAddr: Off, TCPAddr: "127.0.0.1:0", AdminAddr: Off,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	assert.Empty(t, h.TLSAddr())
	assert.Empty(t, h.AdminURL())
	cancel()
	// The state lock is released once the hub has stopped.
	var st *State
	waitFor(t, "state released", func() bool {
		st, err = OpenState(dir, nil)
		return err == nil
	})
	require.NoError(t, st.Close())
}
