package broadcast

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/features/hook"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

// run starts Broadcast for device pid/dn of hub and waits until the hub sees
// its subscription. Run must return at the end of the test.
func run(t *testing.T, hub *hubsim.Hub, pid, dn string, cfg Config) *Broadcast {
	t.Helper()
	d := hubtest.Connect(t, hub, pid, dn)
	bc, err := New(cfg, d.Bus, pid, dn, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	require.Eventually(t, func() bool {
		return slices.Contains(hub.Status(pid, dn).Subscriptions, Topic(pid, dn))
	}, 10*time.Second, 10*time.Millisecond)
	return bc
}

func next(t *testing.T, ch <-chan Message) Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "subscription closed")
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no broadcast arrived")
		return Message{}
	}
}

// TestReachesProductOnly: a broadcast to a product reaches both of its
// devices — one through a hook, one through a local subscriber — and not a
// device of another product.
func TestReachesProductOnly(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	out := filepath.Join(t.TempDir(), "hook.out")
	sh := filepath.Join(t.TempDir(), "hook.sh")
	require.NoError(t, os.WriteFile(sh, []byte("#!/bin/sh\n{ cat; echo \" $IOTD_FEATURE $IOTD_TOPIC\"; } >> "+out+"\n"), 0o700))

	a := run(t, hub, "PBCASTFT01", "a", Config{Hook: hook.Config{Command: []string{sh}}})
	b := run(t, hub, "PBCASTFT01", "b", Config{})
	x := run(t, hub, "PBCASTFT02", "x", Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	aMsgs, bMsgs, xMsgs := a.Subscribe(ctx), b.Subscribe(ctx), x.Subscribe(ctx)

	c := hubsim.NewClient(hub.AdminURL())
	res, err := c.Broadcast(ctx, "PBCASTFT01", []byte("to product 1"))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a", "b"}, res.Delivered)

	for dn, ch := range map[string]<-chan Message{"a": aMsgs, "b": bMsgs} {
		m := next(t, ch)
		assert.Equal(t, "to product 1", string(m.Payload))
		assert.Equal(t, "$broadcast/rxd/PBCASTFT01/"+dn, m.Topic)
	}
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(out)
		return string(b) == "to product 1 broadcast $broadcast/rxd/PBCASTFT01/a\n"
	}, 10*time.Second, 10*time.Millisecond, "the hook ran once with payload and env")

	// x's first broadcast is its own product's: nothing of product 1's
	// arrived before it on the same session.
	_, err = c.Broadcast(ctx, "PBCASTFT02", []byte("to product 2"))
	require.NoError(t, err)
	assert.Equal(t, "to product 2", string(next(t, xMsgs).Payload))

	assert.Equal(t, Stats{Received: 1, HookRuns: 1, Subscribers: 1}, a.Stats())
	assert.Equal(t, Stats{Received: 1, Subscribers: 1}, b.Stats())
	assert.Equal(t, Stats{Received: 1, Subscribers: 1}, x.Stats())
}

func TestHookFailureCounted(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	bc := run(t, hub, "PBCASTFT03", "d", Config{Hook: hook.Config{Command: []string{"/bin/false"}}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs := bc.Subscribe(ctx)
	for _, p := range []string{"one", "two"} {
		_, err := hubsim.NewClient(hub.AdminURL()).Broadcast(ctx, "PBCASTFT03", []byte(p))
		require.NoError(t, err)
		assert.Equal(t, p, string(next(t, msgs).Payload), "a failing hook does not hold up delivery")
	}
	require.Eventually(t, func() bool { return bc.Stats().HookFailures == 2 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(2), bc.Stats().Received)
}

func TestSubscribeEndsWithRun(t *testing.T) {
	b := hubtest.StartHub(t, nil)
	d := hubtest.Connect(t, b, "PBCASTFT04", "d")
	bc, err := New(Config{}, d.Bus, "PBCASTFT04", "d", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch := bc.Subscribe(context.Background())
	done := make(chan error, 1)
	go func() { done <- bc.Run(ctx) }()
	cancel()
	require.NoError(t, <-done)
	_, ok := <-ch
	assert.False(t, ok, "Run closes subscriber channels when it returns")
	_, ok = <-bc.Subscribe(context.Background())
	assert.False(t, ok, "a subscription after Run returned is closed at once")
}

func TestConfigValidate(t *testing.T) {
	assert.NoError(t, Config{}.Validate())
	assert.ErrorContains(t, Config{Hook: hook.Config{Command: []string{""}}}.Validate(), "broadcast: hook: command")
	assert.ErrorContains(t, Config{Queue: -1}.Validate(), "queue")
	_, err := New(Config{}, nil, "P", "d", nil)
	assert.Error(t, err)
}

func TestNoGoroutineLeak(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	d := hubtest.Connect(t, hub, "PBCASTLEAK", "d")
	before := runtime.NumGoroutine()
	bc, err := New(Config{Hook: hook.Config{Command: []string{"/bin/cat"}}}, d.Bus, "PBCASTLEAK", "d", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bc.Run(ctx) }()
	msgs := bc.Subscribe(context.Background())
	require.Eventually(t, func() bool {
		return slices.Contains(hub.Status("PBCASTLEAK", "d").Subscriptions, Topic("PBCASTLEAK", "d"))
	}, 10*time.Second, 10*time.Millisecond)
	_, err = hubsim.NewClient(hub.AdminURL()).Broadcast(ctx, "PBCASTLEAK", []byte("x"))
	require.NoError(t, err)
	next(t, msgs)
	require.Eventually(t, func() bool { return bc.Stats().HookRuns == 1 }, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	http.DefaultClient.CloseIdleConnections() // the admin API client's keep-alive
	// Poll by hand: testify's Eventually runs its condition on goroutines
	// of its own.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after Run returned:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
