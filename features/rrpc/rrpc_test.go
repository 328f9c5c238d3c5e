package rrpc

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/features/hook"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/internal/leakcheck"
)

// env is a hub, a device connected to it over TLS, and RRPC running on the
// device's bus.
type env struct {
	hub    *hubsim.Hub
	client *hubsim.Client
	rrpc   *RRPC
	pid    string
	dn     string
}

// start runs RRPC for a fresh device and waits until the hub sees its
// subscription. It stops at the end of the test and checks that Run returned.
func start(t *testing.T, pid string, cfg Config) *env {
	t.Helper()
	hub := hubtest.StartHub(t, nil)
	d := hubtest.Connect(t, hub, pid, "dev")
	r, err := New(cfg, d.Bus, pid, "dev", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
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
		return slices.Contains(hub.Status(pid, "dev").Subscriptions, RequestFilter(pid, "dev"))
	}, 10*time.Second, 10*time.Millisecond)
	return &env{hub: hub, client: hubsim.NewClient(hub.AdminURL()), rrpc: r, pid: pid, dn: "dev"}
}

func (e *env) call(t *testing.T, payload string, timeout time.Duration) (hubsim.RRPCReply, error) {
	t.Helper()
	return e.client.RRPC(context.Background(), e.pid, e.dn, []byte(payload), timeout)
}

func script(t *testing.T, body string) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hook.sh")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o700))
	return []string{p}
}

// TestConcurrentRequestsAnsweredByProcessID sends requests at once whose
// hook runs take different times, so replies go out in another order than
// the requests came in; each must reach its own caller.
func TestConcurrentRequestsAnsweredByProcessID(t *testing.T) {
	body := `p=$(cat); case "$p" in slow*) sleep 0.6;; esac; printf '%s|%s' "$p" "$IOTD_PROCESS_ID"`
	e := start(t, "PRRPCFEAT1", Config{Hook: hook.Config{Command: script(t, body)}})

	payloads := []string{"slow-1", "fast-1", "slow-2", "fast-2"}
	replies := make([]hubsim.RRPCReply, len(payloads))
	var wg sync.WaitGroup
	for i, p := range payloads {
		wg.Go(func() {
			r, err := e.call(t, p, 10*time.Second)
			assert.NoError(t, err, p)
			replies[i] = r
		})
	}
	wg.Wait()
	for i, p := range payloads {
		assert.Equal(t, p+"|"+replies[i].ProcessID, string(replies[i].PayloadBytes()))
	}
	// The hub may see a reply before the uplink confirms it to RRPC.
	require.Eventually(t, func() bool { return e.rrpc.Stats().Replies == 4 }, 10*time.Second, 10*time.Millisecond)
	st := e.rrpc.Stats()
	assert.Equal(t, int64(4), st.Requests)
	assert.Equal(t, 0, st.Pending)
	assert.Zero(t, st.HookFailures+st.Timeouts+st.Malformed+st.Dropped)
}

func TestHookFailures(t *testing.T) {
	tests := []struct {
		name string
		body string
		cfg  hook.Config
	}{
		{"non-zero exit", "echo partial; echo broken >&2; exit 2", hook.Config{}},
		{"hook timeout", "sleep 30", hook.Config{Timeout: 200 * time.Millisecond}},
		{"output too large", "head -c 2000 /dev/zero", hook.Config{MaxOutput: 100}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Command = script(t, tt.body)
			e := start(t, "PRRPCFAIL"+string(rune('0'+i)), Config{Hook: cfg})
			_, err := e.call(t, "x", time.Second)
			require.ErrorIs(t, err, hubsim.ErrRRPCTimeout, "a failed hook sends no reply")
			require.Eventually(t, func() bool { return e.rrpc.Stats().HookFailures == 1 }, 10*time.Second, 10*time.Millisecond)
			st := e.rrpc.Stats()
			assert.Equal(t, int64(1), st.Requests)
			assert.Equal(t, int64(0), st.Replies)
			assert.Equal(t, 0, st.Pending, "a request nobody else can answer is forgotten at once")
		})
	}
}

// TestMalformedTopics sends requests with no usable process id straight
// from the hub; they are counted and ignored, and a good request after
// them is still answered.
func TestMalformedTopics(t *testing.T) {
	e := start(t, "PRRPCBAD01", Config{Hook: hook.Config{Command: []string{"/bin/cat"}}})
	for _, topic := range []string{
		"$rrpc/rxd/PRRPCBAD01/dev/",                  // no process id
		"$rrpc/rxd/PRRPCBAD01/dev/01234567890123456", // 17 characters
	} {
		require.NoError(t, e.hub.Publish(topic, []byte("bad"), 0))
	}
	require.Eventually(t, func() bool { return e.rrpc.Stats().Malformed == 2 }, 10*time.Second, 10*time.Millisecond)
	r, err := e.call(t, "still fine", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "still fine", string(r.PayloadBytes()))
	require.Eventually(t, func() bool { return e.rrpc.Stats().Replies == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(1), e.rrpc.Stats().Requests)
}

// TestLocalSubscribers answers through the Go API the daemon streams to
// local API clients.
func TestLocalSubscribers(t *testing.T) {
	e := start(t, "PRRPCLOC01", Config{ReplyTimeout: 1500 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reqs := e.rrpc.Subscribe(ctx)

	type result struct {
		r   hubsim.RRPCReply
		err error
	}
	got := make(chan result, 1)
	go func() {
		r, err := e.call(t, "open", 5*time.Second)
		got <- result{r, err}
	}()
	var req Request
	select {
	case req = <-reqs:
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the subscriber")
	}
	assert.Equal(t, "open", string(req.Payload))
	assert.Equal(t, ReplyTopic(e.pid, e.dn, req.ProcessID), "$rrpc/txd/"+e.pid+"/dev/"+req.ProcessID)
	require.NoError(t, e.rrpc.Reply(ctx, req.ProcessID, []byte("opened")))
	res := <-got
	require.NoError(t, res.err)
	assert.Equal(t, req.ProcessID, res.r.ProcessID)
	assert.Equal(t, "opened", string(res.r.PayloadBytes()))

	// A second reply, and one for an id that never came, are refused.
	assert.ErrorIs(t, e.rrpc.Reply(ctx, req.ProcessID, []byte("again")), ErrUnknownProcess)
	assert.ErrorIs(t, e.rrpc.Reply(ctx, "nope", nil), ErrUnknownProcess)

	// A request nobody answers expires and is counted.
	_, err := e.call(t, "ignored", 500*time.Millisecond)
	require.ErrorIs(t, err, hubsim.ErrRRPCTimeout)
	<-reqs
	require.Eventually(t, func() bool { return e.rrpc.Stats().Timeouts == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 0, e.rrpc.Stats().Pending)

	// Ending the subscriber's context closes its channel.
	cancel()
	require.Eventually(t, func() bool {
		select {
		case _, ok := <-reqs:
			return !ok
		default:
			return false
		}
	}, 5*time.Second, 10*time.Millisecond)
}

func TestNoHandlerDrops(t *testing.T) {
	e := start(t, "PRRPCNONE1", Config{})
	_, err := e.call(t, "x", 300*time.Millisecond)
	require.ErrorIs(t, err, hubsim.ErrRRPCTimeout)
	require.Eventually(t, func() bool { return e.rrpc.Stats().Dropped == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(0), e.rrpc.Stats().Requests)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero", Config{}, ""},
		{"hook", Config{Hook: hook.Config{Command: []string{"/bin/cat"}}}, ""},
		{"bad hook", Config{Hook: hook.Config{Command: []string{""}}}, "rrpc: hook: command"},
		{"negative timeout", Config{ReplyTimeout: -time.Second}, "reply_timeout"},
		{"too many pending", Config{MaxPending: 1 << 20}, "max_pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.wantErr)
			}
		})
	}
}

// TestNoGoroutineLeak runs requests through a hook and a subscriber, then
// stops Run and checks every goroutine it started has ended.
func TestNoGoroutineLeak(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	d := hubtest.Connect(t, hub, "PRRPCLEAK1", "dev")
	snap := leakcheck.Take()

	r, err := New(Config{Hook: hook.Config{Command: []string{"/bin/cat"}}}, d.Bus, "PRRPCLEAK1", "dev", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	sub := r.Subscribe(context.Background()) // closed by Run's end
	require.Eventually(t, func() bool {
		return slices.Contains(hub.Status("PRRPCLEAK1", "dev").Subscriptions, RequestFilter("PRRPCLEAK1", "dev"))
	}, 10*time.Second, 10*time.Millisecond)
	rep, err := hubsim.NewClient(hub.AdminURL()).RRPC(context.Background(), "PRRPCLEAK1", "dev", []byte("hi"), 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(rep.PayloadBytes()))
	<-sub
	cancel()
	require.NoError(t, <-done)
	_, ok := <-sub
	assert.False(t, ok)
	assert.ErrorIs(t, r.Reply(context.Background(), "1", nil), ErrStopped)
	// The admin API client's keep-alive connection may be parked in the
	// idle pool only after its response was read: closed on every look.
	snap.Check(t, 10*time.Second, http.DefaultClient.CloseIdleConnections)
}
