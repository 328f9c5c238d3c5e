package mqtt

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
)

// TestUplinkSurvivesBrokerKill publishes a QoS 1 stream concurrently, kills
// mosquitto with SIGKILL in the middle and restarts it on the same port.
// Every publish request must succeed, and every message that the first
// broker had not acknowledged when it died must be sent again after the link
// reconnects and reach a separate subscriber.
//
// Messages the first broker did acknowledge are its responsibility: mosquitto
// sends PUBACK before it has written the message to its subscribers, so a
// SIGKILL can lose a few of them (seen: up to 13 with 20 in flight). The test
// allows that for messages confirmed before the restart, at most MaxInflight
// of them, and logs them.
func TestUplinkSurvivesBrokerKill(t *testing.T) {
	const total = 500
	b := startMosquitto(t)
	h := newHarness(t, b.Addr(), harnessOpts{backoff: core.BackoffConfig{
		Initial: core.Duration(100 * time.Millisecond), Max: core.Duration(time.Second),
	}})
	waitFor(t, "connected", h.connected)

	states, err := h.bus.Subscribe(t.Context(), bus.TopicLinkState)
	require.NoError(t, err)
	var retries []time.Duration
	var statesMu sync.Mutex
	go func() {
		for m := range states {
			m.Ack()
			var s bus.LinkState
			if bus.DecodeEvent(m, &s) == nil && s.State == core.StateDisconnected {
				statesMu.Lock()
				retries = append(retries, s.RetryIn)
				statesMu.Unlock()
			}
		}
	}()

	// The subscriber takes QoS 0 so that it never has unread PUBACKs in
	// mosquitto's socket when it dies (which would make the kernel reset the
	// socket and drop data already written to it).
	seen := func(p *peer) map[string]bool {
		out := map[string]bool{}
		for _, v := range p.received("stream/t") {
			out[v] = true
		}
		return out
	}
	sub := newPeer(t, b.Addr(), "watcher-1")
	sub.subscribe(t, "stream/#", 0)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	errs := make(chan error, total)
	var wg sync.WaitGroup
	var repliedAt sync.Map // payload → time of the successful reply
	for i := range total {
		wg.Go(func() {
			err := h.bus.CloudPublish(ctx, "stream/t", []byte(strconv.Itoa(i)), 1)
			repliedAt.Store(strconv.Itoa(i), time.Now())
			errs <- err
		})
	}

	waitFor(t, "part of the stream", func() bool { return len(sub.received("stream/t")) >= 100 })
	release := h.hold() // hold the uplink's next CONNECT until the watcher is back
	b.Stop(t)
	before := seen(sub)
	waitFor(t, "link down", func() bool { return !h.connected() })
	b.Start(t)
	sub2 := newPeer(t, b.Addr(), "watcher-2")
	sub2.subscribe(t, "stream/#", 1)
	release()

	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for union(before, seen(sub2)) < total && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	missing := []string{}
	all := seen(sub2)
	for k := range before {
		all[k] = true
	}
	for i := range total {
		if !all[strconv.Itoa(i)] {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	assert.Empty(t, missing, "messages lost (before kill %d, after restart %d)", len(before), len(seen(sub2)))
	st := h.up.Status()
	assert.Zero(t, st.QueueDepth)
	assert.Zero(t, st.Inflight)
	statesMu.Lock()
	defer statesMu.Unlock()
	require.NotEmpty(t, retries, "no disconnected state event")
	for _, r := range retries {
		assert.Positive(t, r, "reconnect waits a backoff")
	}
	t.Logf("before kill %d distinct, after restart %d distinct; disconnects %d", len(before), len(seen(sub2)), len(retries))
}

func union(a, b map[string]bool) int {
	n := len(a)
	for k := range b {
		if !a[k] {
			n++
		}
	}
	return n
}
