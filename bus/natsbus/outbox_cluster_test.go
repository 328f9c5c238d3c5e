package natsbus_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/outbox"
)

// TestJetStreamOutboxClusterLosesNothing: the outbox's stream on three
// replicas of a three-node cluster; the node that leads it is killed while
// batches are appended and acknowledged ones removed. A batch that failed
// is appended again (as the uplink's publisher would be told to). Opened
// again afterwards, on a new connection, the outbox holds every message
// whose batch was acknowledged and not removed, in order.
func TestJetStreamOutboxClusterLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	const batches, size = 80, 5
	cluster := natstest.RunCluster(t, 3)
	cfg := natsbus.OutboxConfig{Stream: "OUTBOX_cluster", Replicas: 3, Timeout: 2 * time.Second}
	openOn := func() *natsbus.Outbox {
		nc, err := nats.Connect(cluster.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		deadline := time.Now().Add(wait)
		for { // the stream is created once the cluster can place three replicas
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			o, err := natsbus.OpenOutbox(ctx, nc, cfg)
			cancel()
			if err == nil {
				t.Cleanup(func() { _ = o.Close() })
				return o
			}
			require.False(t, time.Now().After(deadline), "outbox not opened: %v", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
	o := openOn()
	nc, err := nats.Connect(cluster.URL())
	require.NoError(t, err)
	defer nc.Close()

	var kept []string // acknowledged and not removed, in order
	failed := 0
	for b := range batches {
		if b == batches/3 {
			t.Logf("%d messages pending", len(o.Pending()))
			killStreamLeader(t, cluster, nc, cfg.Stream)
			// The uplink reads a payload to send it: during the election
			// the read waits instead of failing (which would park it).
			p, err := o.Payload(o.Pending()[0].Seq)
			require.NoError(t, err)
			require.Equal(t, "2", string(p))
		}
		msgs := make([]outbox.Message, size)
		for i := range msgs {
			msgs[i] = outbox.Message{Topic: "t/c", QoS: 1, Payload: []byte(strconv.Itoa(b*size + i))}
		}
		var metas []outbox.Meta
		for attempt := 0; ; attempt++ {
			var err error
			metas, err = o.AppendBatch(context.Background(), msgs)
			if err == nil {
				break
			}
			require.ErrorIs(t, err, outbox.ErrDisk)
			failed++
			require.Less(t, attempt, 100, "batch %d keeps failing: %v", b, err)
			time.Sleep(50 * time.Millisecond)
		}
		// The first two of each batch were PUBACKed.
		require.NoError(t, o.Remove(metas[0].Seq, metas[1].Seq))
		for _, m := range msgs[2:] {
			kept = append(kept, string(m.Payload))
		}
	}
	require.NoError(t, o.Close())

	o = openOn()
	var got []string
	for _, m := range o.Pending() {
		var p []byte
		deadline := time.Now().Add(wait)
		for {
			var err error
			if p, err = o.Payload(m.Seq); err == nil {
				break
			}
			require.False(t, time.Now().After(deadline), "payload of %d: %v", m.Seq, err)
			time.Sleep(50 * time.Millisecond)
		}
		got = append(got, string(p))
	}
	for _, k := range kept {
		assert.Contains(t, got, k, "acknowledged message %s was lost", k)
	}
	nums := make([]int, len(got))
	for i, g := range got {
		nums[i], _ = strconv.Atoi(g)
	}
	assert.True(t, slices.IsSorted(nums), "pending in order: %v", nums)
	t.Logf("%d kept, %d pending after the restart (a batch whose acknowledgement was lost may come back: at least once), %d appends failed and were retried",
		len(kept), len(got), failed)
}
