package natsbus_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/natsconf"
)

// A three-node JetStream cluster on loopback, the stream replicated on all
// three; the node that leads the stream is killed while a publisher
// publishes and a subscriber consumes. Every publish that returned nil
// (the stream acknowledged it) is in the stream afterwards and reached the
// subscriber; publishes that failed during the election are retried, so
// the subscriber may see a message twice, never lose one.
func TestClusterNodeKilledLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	const n = 600
	cluster := natstest.RunCluster(t, 3)
	cfg := natsconf.Config{URL: cluster.URL(), Replicas: 3, Retention: "limits", PublishTimeout: 2 * time.Second, AckWait: 2 * time.Second}
	var ps, sub *natsbus.PubSub
	deadline := time.Now().Add(wait)
	for { // the stream is created once the cluster can place three replicas
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		var err error
		ps, err = natsbus.Open(ctx, cfg, nil)
		cancel()
		if err == nil {
			break
		}
		require.False(t, time.Now().After(deadline), "stream not created: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() { _ = ps.Close() })
	sub = open(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	ch, err := sub.Subscribe(ctx, "telemetry")
	require.NoError(t, err)
	received := make(map[int]int)
	var mu sync.Mutex
	allIn := make(chan struct{})
	go func() {
		for m := range ch {
			m.Ack()
			i, _ := strconv.Atoi(string(m.Payload))
			mu.Lock()
			received[i]++
			if len(received) == n {
				close(allIn)
			}
			mu.Unlock()
		}
	}()

	var acked []int
	failed := 0
	for i := range n {
		if i == n/3 {
			killStreamLeader(t, cluster, ps.Conn(), natsconf.DefaultStream)
		}
		for attempt := 0; ; attempt++ {
			err := ps.Publish("telemetry", message.NewMessage(watermill.NewUUID(), []byte(strconv.Itoa(i))))
			if err == nil {
				acked = append(acked, i)
				break
			}
			failed++
			require.Less(t, attempt, 100, "publish %d keeps failing: %v", i, err)
			time.Sleep(50 * time.Millisecond)
		}
	}
	require.Len(t, acked, n)

	// Every acknowledged message is in the stream, read back from a
	// surviving node.
	js, err := jetstream.New(ps.Conn())
	require.NoError(t, err)
	cons, err := js.OrderedConsumer(ctx, natsconf.DefaultStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{ps.Subject("telemetry")}})
	require.NoError(t, err)
	stored := make(map[int]bool)
	deadline = time.Now().Add(wait)
	for len(stored) < n {
		m, err := cons.Next(jetstream.FetchMaxWait(wait))
		if err != nil { // the cluster may still be settling: the ordered consumer starts again
			require.False(t, time.Now().After(deadline), "read %d of %d from the stream: %v", len(stored), n, err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		i, _ := strconv.Atoi(string(m.Data()))
		stored[i] = true
	}
	for _, i := range acked {
		assert.True(t, stored[i], "acknowledged message %d is not in the stream", i)
	}

	// And the subscriber got each of them.
	select {
	case <-allIn:
		mu.Lock()
		dup := 0
		for _, k := range received {
			dup += k - 1
		}
		mu.Unlock()
		t.Logf("%d published, %d publishes failed and were retried; the subscriber got all, %d twice", n, failed, dup)
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the subscriber got %d of %d", len(received), n)
	}
}

// killStreamLeader shuts down the server that leads the stream.
func killStreamLeader(t *testing.T, c *natstest.Cluster, nc *nats.Conn, stream string) {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	require.NoError(t, err)
	require.NotNil(t, st.CachedInfo().Cluster)
	leader := st.CachedInfo().Cluster.Leader
	for _, s := range c.Servers {
		if s.Name() == leader {
			t.Logf("killing %s, the leader of stream %s", leader, stream)
			s.Shutdown()
			return
		}
	}
	t.Fatalf("no server named %q", leader)
}
