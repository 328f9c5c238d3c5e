package mqtt

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
)

const streamTotal = 500

// publishStream sends streamTotal QoS 1 messages through the uplink from
// concurrent callers and returns a function that waits for every reply and
// fails the test on any error.
func publishStream(t *testing.T, h *harness) (wait func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	errs := make(chan error, streamTotal)
	var wg sync.WaitGroup
	for i := range streamTotal {
		wg.Go(func() { errs <- h.bus.CloudPublish(ctx, "stream/t", []byte(strconv.Itoa(i)), 1) })
	}
	return func() {
		wg.Wait()
		cancel()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
}

// recordRetries collects the backoff waits of disconnected events.
func recordRetries(t *testing.T, h *harness) func() []time.Duration {
	states, err := h.bus.Subscribe(t.Context(), bus.TopicLinkState)
	require.NoError(t, err)
	var mu sync.Mutex
	var retries []time.Duration
	go func() {
		for m := range states {
			m.Ack()
			if s, err := bus.DecodeLinkState(m); err == nil && s.State == linkstate.Disconnected {
				mu.Lock()
				retries = append(retries, s.RetryIn)
				mu.Unlock()
			}
		}
	}()
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), retries...)
	}
}

func missingOf(seen map[string]bool) []string {
	var missing []string
	for i := range streamTotal {
		if !seen[strconv.Itoa(i)] {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	return missing
}

// durableWatcher is a subscriber with a persistent session (clean session
// off, QoS 1): the broker queues for it while it is away.
type durableWatcher struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (w *durableWatcher) connect(t *testing.T, addr string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("durable-watcher").
		SetCleanSession(false).SetAutoReconnect(false).SetProtocolVersion(4).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			w.mu.Lock()
			w.seen[string(m.Payload())] = true
			w.mu.Unlock()
		}))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func (w *durableWatcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.seen)
}

// TestUplinkSurvivesBrokerRestart publishes a QoS 1 stream concurrently
// through the uplink to mosquitto, stops mosquitto in the middle (SIGTERM;
// persistence on) and starts it again on the same port. The link reconnects
// with backoff, and every message reaches a subscriber on the far side: the
// ones mosquitto acknowledged before it stopped from its saved queue, the
// ones it had not from iotd's resend. Nothing may be missing.
func TestUplinkSurvivesBrokerRestart(t *testing.T) {
	b := startMosquittoWith(t, true)
	w := &durableWatcher{seen: map[string]bool{}}
	c := w.connect(t, b.Addr())
	tok := c.Subscribe("stream/#", 1, nil)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())

	h := newHarness(t, b.Addr(), harnessOpts{backoff: core.BackoffConfig{
		Initial: core.Duration(100 * time.Millisecond), Max: core.Duration(time.Second),
	}})
	waitFor(t, "connected", h.connected)
	retries := recordRetries(t, h)
	wait := publishStream(t, h)

	waitFor(t, "part of the stream", func() bool { return w.count() >= 100 })
	b.Stop(t)
	waitFor(t, "link down", func() bool { return !h.connected() })
	b.Start(t)
	w.connect(t, b.Addr()) // same client id: the saved session resumes
	wait()

	deadline := time.Now().Add(15 * time.Second)
	for w.count() < streamTotal && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	w.mu.Lock()
	assert.Empty(t, missingOf(w.seen), "messages lost")
	w.mu.Unlock()
	st := h.up.Status()
	assert.Zero(t, st.QueueDepth)
	assert.Zero(t, st.Inflight)
	require.NotEmpty(t, retries(), "no disconnected state event")
	for _, r := range retries() {
		assert.Positive(t, r, "reconnect waits a backoff")
	}
}

// recordHook records every PUBLISH a mochi broker accepts, before it sends
// the PUBACK.
type recordHook struct {
	mochi.HookBase
	mu   *sync.Mutex
	seen map[string]bool
}

func (h *recordHook) ID() string           { return "record" }
func (h *recordHook) Provides(b byte) bool { return b == mochi.OnPublish }
func (h *recordHook) OnPublish(_ *mochi.Client, pk mpackets.Packet) (mpackets.Packet, error) {
	h.mu.Lock()
	h.seen[string(pk.Payload)] = true
	h.mu.Unlock()
	return pk, nil
}

// TestUplinkResendsAfterAbruptBrokerDeath kills the broker abruptly in the
// middle of a QoS 1 stream (every connection cut, nothing saved) and starts a
// new one on the same port. A broker that dies this way may lose what it
// had acknowledged, so the far side cannot judge iotd here; the brokers
// themselves can: every message iotd reported as sent must have been
// accepted by one of the two, and the rest resent to the second.
func TestUplinkResendsAfterAbruptBrokerDeath(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	addr := freePort(t)
	start := func() (*mochi.Server, *listeners.TCP) {
		srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, srv.AddHook(&recordHook{mu: &mu, seen: seen}, nil))
		require.NoError(t, srv.AddHook(new(refuseHook), nil))
		l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
		require.NoError(t, srv.AddListener(l))
		require.NoError(t, srv.Serve())
		return srv, l
	}
	srv, l := start()
	h := newHarness(t, addr, harnessOpts{backoff: core.BackoffConfig{
		Initial: core.Duration(100 * time.Millisecond), Max: core.Duration(time.Second),
	}})
	waitFor(t, "connected", h.connected)
	wait := publishStream(t, h)
	waitFor(t, "part of the stream", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) >= 100 })
	closeMochi(srv, l)
	waitFor(t, "link down", func() bool { return !h.connected() })
	srv, l = start()
	defer closeMochi(srv, l)
	wait()
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, missingOf(seen), "messages iotd confirmed that no broker accepted")
}
