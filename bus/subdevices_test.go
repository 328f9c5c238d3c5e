package bus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
)

func newSubBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func ref(dn string) bus.DeviceRef { return bus.DeviceRef{ProductID: "PSUB000001", DeviceName: dn} }

func set(dns ...string) bus.SubDevices {
	s := bus.SubDevices{Online: []bus.DeviceRef{}}
	for _, dn := range dns {
		s.Online = append(s.Online, ref(dn))
	}
	return s
}

// fakeGateway answers bus.TopicSubDevicesQuery as the gateway feature
// does: a request (SubDevicesNow) with a reply, a plain query
// (WatchSubDevices) with an event. Set changes the set and, when publish,
// publishes it as the gateway does after a change.
type fakeGateway struct {
	b       *bus.Bus
	mu      sync.Mutex
	cur     bus.SubDevices
	queries int
}

func startGateway(t *testing.T, b *bus.Bus, initial bus.SubDevices) *fakeGateway {
	t.Helper()
	g := &fakeGateway{b: b, cur: initial}
	ctx, cancel := context.WithCancel(context.Background())
	qs, err := b.Subscribe(ctx, bus.TopicSubDevicesQuery)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for q := range qs {
			q.Ack()
			g.mu.Lock()
			cur := g.cur
			g.queries++
			g.mu.Unlock()
			if q.Metadata.Get(bus.MetaReplyTo) == "" {
				assert.NoError(t, b.PublishSubDevices(cur))
				continue
			}
			rep, err := bus.NewEvent(cur)
			if assert.NoError(t, err) {
				assert.NoError(t, b.Reply(q, rep))
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return g
}

func (g *fakeGateway) Set(s bus.SubDevices, publish bool) {
	g.mu.Lock()
	g.cur = s
	g.mu.Unlock()
	if publish {
		_ = g.b.PublishSubDevices(s)
	}
}

func (g *fakeGateway) Queries() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.queries
}

func TestDeviceRefAndHas(t *testing.T) {
	assert.Equal(t, "PSUB000001/lamp1", ref("lamp1").String())
	s := set("lamp1", "lamp2")
	assert.True(t, s.Has(ref("lamp2")))
	assert.False(t, s.Has(ref("lamp3")))
	assert.False(t, s.Has(bus.DeviceRef{ProductID: "OTHER00001", DeviceName: "lamp1"}))
	assert.False(t, bus.SubDevices{}.Has(ref("lamp1")))
}

// The gateway's events reach a subscriber in the order published, each
// with its whole set, in the documented JSON.
func TestSubDevicesEventsOrderAndContent(t *testing.T) {
	b := newSubBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := b.Subscribe(ctx, bus.TopicSubDevices)
	require.NoError(t, err)
	sets := []bus.SubDevices{set("lamp1"), set("lamp1", "lamp2"), set("lamp2"), set()}
	for _, s := range sets {
		require.NoError(t, b.PublishSubDevices(s))
	}
	for i, want := range sets {
		select {
		case m := <-ch:
			if i == 1 {
				assert.JSONEq(t, `{"online":[{"product_id":"PSUB000001","device_name":"lamp1"},{"product_id":"PSUB000001","device_name":"lamp2"}]}`, string(m.Payload))
			}
			var got bus.SubDevices
			require.NoError(t, bus.DecodeEvent(m, &got))
			m.Ack()
			assert.Equal(t, want, got, "event %d", i)
		case <-ctx.Done():
			t.Fatalf("event %d did not arrive", i)
		}
	}
}

// WatchSubDevices sees the gateway's current set first (the gateway
// brought the sub-devices online before the watch began), then every
// change in order, and returns nil when its context ends.
func TestWatchSubDevicesCurrentThenChanges(t *testing.T) {
	b := newSubBus(t)
	g := startGateway(t, b, set("lamp1"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan bus.SubDevices, 10)
	done := make(chan error, 1)
	go func() { done <- b.WatchSubDevices(ctx, func(s bus.SubDevices) { seen <- s }) }()

	next := func() bus.SubDevices {
		t.Helper()
		select {
		case s := <-seen:
			return s
		case <-time.After(5 * time.Second):
			t.Fatal("no call")
			return bus.SubDevices{}
		}
	}
	assert.Equal(t, set("lamp1"), next(), "the current set first")
	assert.Equal(t, 1, g.Queries(), "asked once, as a plain query")
	g.Set(set("lamp1", "lamp2"), true)
	g.Set(set("lamp2"), true)
	assert.Equal(t, set("lamp1", "lamp2"), next())
	assert.Equal(t, set("lamp2"), next())

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("WatchSubDevices did not return when its context ended")
	}
	assert.Empty(t, seen)
}

// Without a gateway nothing answers: fn is never called, and the watch
// ends cleanly with its context or with the bus.
func TestWatchSubDevicesWithoutGateway(t *testing.T) {
	b := newSubBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	called := false
	assert.NoError(t, b.WatchSubDevices(ctx, func(bus.SubDevices) { called = true }))
	assert.False(t, called)

	done := make(chan error, 1)
	go func() { done <- b.WatchSubDevices(context.Background(), func(bus.SubDevices) {}) }()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, b.Close())
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("WatchSubDevices did not return when the bus closed")
	}
	assert.Error(t, b.WatchSubDevices(context.Background(), func(bus.SubDevices) {}), "a closed bus refuses")
}

// SubDevicesNow asks the gateway with a request and gets its set in the
// reply; no event is published for it.
func TestSubDevicesNow(t *testing.T) {
	b := newSubBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, err := b.Subscribe(ctx, bus.TopicSubDevices)
	require.NoError(t, err)
	g := startGateway(t, b, set("lamp1", "lamp2"))

	s, err := b.SubDevicesNow(ctx)
	require.NoError(t, err)
	assert.Equal(t, set("lamp1", "lamp2"), s)
	g.Set(set(), false)
	s, err = b.SubDevicesNow(ctx)
	require.NoError(t, err)
	assert.Equal(t, set(), s)
	assert.Equal(t, 2, g.Queries())
	select {
	case m := <-events:
		t.Fatalf("a request answered with an event too: %s", m.Payload)
	case <-time.After(50 * time.Millisecond):
	}
}

// Without a gateway, SubDevicesNow waits as long as its context allows
// and no longer, and says nobody answered.
func TestSubDevicesNowWithoutGateway(t *testing.T) {
	b := newSubBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	s, err := b.SubDevicesNow(ctx)
	assert.ErrorIs(t, err, bus.ErrNoReply)
	assert.ErrorContains(t, err, bus.TopicSubDevicesQuery)
	assert.Empty(t, s.Online)
	assert.Less(t, time.Since(start), 2*time.Second)

	// A gateway that answers with an error: the error, not a set.
	qs, err := b.Subscribe(t.Context(), bus.TopicSubDevicesQuery)
	require.NoError(t, err)
	go func() {
		for q := range qs {
			q.Ack()
			_ = b.Reply(q, bus.ErrorReply(errors.New("gateway: stopping")))
		}
	}()
	_, err = b.SubDevicesNow(t.Context())
	assert.EqualError(t, err, "gateway: stopping")
}

// A follower sees the gateway's current set once it runs, then its
// changes; before any gateway answered it says no at once.
func TestFollowSubDevices(t *testing.T) {
	b := newSubBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := b.FollowSubDevices()

	// No gateway: no, without waiting.
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	start := time.Now()
	assert.False(t, f.Online(ctx, ref("lamp1")))
	assert.Less(t, time.Since(start), time.Second)

	// A gateway comes up with lamp1 online and publishes it.
	g := startGateway(t, b, set())
	g.Set(set("lamp1"), true)
	assert.Eventually(t, func() bool { return f.Online(ctx, ref("lamp1")) }, 5*time.Second, 10*time.Millisecond)
	assert.False(t, f.Online(ctx, ref("lamp2")))

	// lamp2 comes online and the event follows.
	g.Set(set("lamp1", "lamp2"), true)
	assert.Eventually(t, func() bool { return f.Online(ctx, ref("lamp2")) }, 5*time.Second, 10*time.Millisecond)

	// lamp2 is online a moment before its event: the follower asks.
	g.Set(set("lamp1", "lamp2", "lamp3"), false)
	assert.True(t, f.Online(ctx, ref("lamp3")))

	// Offline, with its event.
	g.Set(set("lamp2"), true)
	assert.Eventually(t, func() bool { return !f.Online(ctx, ref("lamp1")) }, 5*time.Second, 10*time.Millisecond)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
}

// A follower that saw a gateway which then stopped answering waits for
// it at most 2 s, then says no.
func TestFollowSubDevicesGatewayGone(t *testing.T) {
	b := newSubBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := b.FollowSubDevices()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	// The gateway's event reaches the follower, then the gateway is gone
	// (nothing serves the query topic).
	assert.Eventually(t, func() bool {
		_ = b.PublishSubDevices(set("lamp1"))
		return f.Online(ctx, ref("lamp1"))
	}, 5*time.Second, 20*time.Millisecond)

	start := time.Now()
	assert.False(t, f.Online(ctx, ref("lamp2")))
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, 2*time.Second-50*time.Millisecond, "it asked the gateway")
	assert.Less(t, took, 4*time.Second, "and gave up")

	// A caller's shorter context bounds it too.
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	start = time.Now()
	assert.False(t, f.Online(short, ref("lamp2")))
	assert.Less(t, time.Since(start), time.Second)
	cancel()
	<-done
}
