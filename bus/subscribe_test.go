package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	mqttup "github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
	"github.com/iotd/iotd/drivers/posix"
)

// The reference counting of cloud subscriptions, against the real MQTT
// uplink and a mochi broker on loopback.

const clientID = "dev-subscribe-test"

// unsubHook counts the UNSUBSCRIBEs the broker receives and can hold each
// for a while, so that one is still on its way when the next request comes.
type unsubHook struct {
	mochi.HookBase
	count atomic.Int32
	delay atomic.Int64 // time.Duration
}

func (h *unsubHook) ID() string { return "unsub" }
func (h *unsubHook) Provides(b byte) bool {
	return b == mochi.OnUnsubscribe || b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *unsubHook) OnConnectAuthenticate(*mochi.Client, mpackets.Packet) bool { return true }
func (h *unsubHook) OnACLCheck(*mochi.Client, string, bool) bool               { return true }
func (h *unsubHook) OnUnsubscribe(_ *mochi.Client, pk mpackets.Packet) mpackets.Packet {
	h.count.Add(1)
	time.Sleep(time.Duration(h.delay.Load()))
	return pk
}

type rig struct {
	srv  *mochi.Server
	hook *unsubHook
	bus  *bus.Bus
	up   *mqttup.Uplink
}

func startRig(t *testing.T) *rig {
	t.Helper()
	l0, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l0.Addr().String()
	require.NoError(t, l0.Close())

	r := &rig{hook: new(unsubHook)}
	r.srv = mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler), InlineClient: true})
	require.NoError(t, r.srv.AddHook(r.hook, nil))
	ml := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	require.NoError(t, r.srv.AddListener(ml))
	require.NoError(t, r.srv.Serve())

	r.bus, err = bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	reg := core.NewRegistry()
	require.NoError(t, reg.Register(posix.NewTCP()))
	link, err := reg.OpenLink(core.LinkConfig{Driver: "tcp", Address: addr, DialTimeout: 5 * time.Second,
		Backoff: core.BackoffConfig{Initial: core.Duration(20 * time.Millisecond), Max: core.Duration(200 * time.Millisecond)}},
		core.LinkOptions{OnState: r.bus.PublishLinkState})
	require.NoError(t, err)
	r.up, err = mqttup.New(mqttup.Config{Credentials: func() (core.Credentials, error) {
		return core.Credentials{ClientID: clientID, Username: "u", Password: "p"}, nil
	}}, link, r.bus, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.up.Run(ctx) }()
	<-r.up.Serving()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("uplink did not stop")
		}
		_ = r.bus.Close()
		// Close the listener with a disconnect of our own before the
		// server: mochi's own listener shutdown can deadlock.
		ml.Close(func(string) {
			for _, cl := range r.srv.Clients.GetAll() {
				if !cl.Net.Inline && !cl.Closed() {
					_ = r.srv.DisconnectClient(cl, mpackets.ErrServerShuttingDown)
				}
			}
		})
		_ = r.srv.Close()
	})
	waitFor(t, "connected", func() bool { return r.up.Status().State.State == linkstate.Connected })
	return r
}

// subscriptions returns the uplink's subscriptions.
func (r *rig) subscriptions() []string { return r.up.Status().Subscriptions }

// brokerQoS returns the QoS of the device's subscription to filter as the
// broker has it, or -1 when the broker has none.
func (r *rig) brokerQoS(filter string) int {
	cl, ok := r.srv.Clients.Get(clientID)
	if !ok || cl.Closed() {
		return -1
	}
	s, ok := cl.State.Subscriptions.Get(filter)
	if !ok {
		return -1
	}
	return int(s.Qos)
}

// reconnect cuts the device's connection at the broker and waits for the
// uplink's next session.
func (r *rig) reconnect(t *testing.T) {
	t.Helper()
	before := r.up.Status().ConnectedSince
	cl, ok := r.srv.Clients.Get(clientID)
	require.True(t, ok)
	_ = r.srv.DisconnectClient(cl, mpackets.ErrServerShuttingDown) // returns the code
	waitFor(t, "the next session", func() bool {
		// The link reads connected once the subscriptions are restored.
		st := r.up.Status()
		return st.ConnectedSince.After(before) && st.State.State == linkstate.Connected && len(st.Pending) == 0
	})
}

func (r *rig) publish(t *testing.T, topic, payload string) {
	t.Helper()
	require.NoError(t, r.srv.Publish(topic, []byte(payload), false, 1))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func recv(t *testing.T, ch <-chan *message.Message) string {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "channel closed")
		m.Ack()
		return string(m.Payload)
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
		return ""
	}
}

func TestCloudSubscriptionReleasedByTheLastSubscriber(t *testing.T) {
	r := startRig(t)
	const filter = "dev/+/data"
	ctxA, cancelA := context.WithCancel(t.Context())
	defer cancelA()
	ctxB, cancelB := context.WithCancel(t.Context())
	defer cancelB()
	_, err := r.bus.CloudSubscribe(ctxA, filter, 1)
	require.NoError(t, err)
	b, err := r.bus.CloudSubscribe(ctxB, filter, 0)
	require.NoError(t, err)
	assert.Equal(t, 2, r.bus.CloudSubscribers(filter))
	assert.Contains(t, r.subscriptions(), filter)
	assert.Equal(t, 1, r.brokerQoS(filter), "the highest QoS asked")

	// The QoS 1 subscriber leaves: one remains, the filter stays, at QoS 1.
	cancelA()
	waitFor(t, "a to leave", func() bool { return r.bus.CloudSubscribers(filter) == 1 })
	r.publish(t, "dev/1/data", "one")
	assert.Equal(t, "one", recv(t, b))
	assert.Zero(t, r.hook.count.Load(), "no UNSUBSCRIBE while a subscriber remains")
	assert.Contains(t, r.subscriptions(), filter)
	assert.Equal(t, 1, r.brokerQoS(filter), "a leaving subscriber does not lower the QoS")

	r.reconnect(t)
	assert.Contains(t, r.subscriptions(), filter, "restored while a subscriber remains")
	assert.Equal(t, 1, r.brokerQoS(filter))
	r.publish(t, "dev/2/data", "two")
	assert.Equal(t, "two", recv(t, b))

	// The last one leaves: gone from the uplink and the broker, and not
	// restored by the next session.
	cancelB()
	waitFor(t, "the filter to go", func() bool { return !slices.Contains(r.subscriptions(), filter) })
	waitFor(t, "the broker to drop it", func() bool { return r.brokerQoS(filter) == -1 })
	assert.EqualValues(t, 1, r.hook.count.Load())
	assert.Zero(t, r.bus.CloudSubscribers(filter))
	r.reconnect(t)
	assert.NotContains(t, r.subscriptions(), filter, "not restored on reconnect")
	assert.Equal(t, -1, r.brokerQoS(filter))
}

// A subscribe made while the last subscriber's UNSUBSCRIBE is still on its
// way ends subscribed.
func TestCloudSubscribeDuringRelease(t *testing.T) {
	r := startRig(t)
	const filter = "race/#"
	r.hook.delay.Store(int64(20 * time.Millisecond))
	for i := range 20 {
		ctxA, cancelA := context.WithCancel(t.Context())
		_, err := r.bus.CloudSubscribe(ctxA, filter, 1)
		require.NoError(t, err)
		cancelA()
		if i%2 == 1 {
			// a's UNSUBSCRIBE is on its way (the broker holds it a while).
			waitFor(t, "a to leave", func() bool { return r.bus.CloudSubscribers(filter) == 0 })
		} // else a's release may come before or after b's subscribe
		ctxB, cancelB := context.WithCancel(t.Context())
		b, err := r.bus.CloudSubscribe(ctxB, filter, 1)
		require.NoError(t, err)
		waitFor(t, "a to leave", func() bool { return r.bus.CloudSubscribers(filter) == 1 })
		require.Contains(t, r.subscriptions(), filter, "round %d", i)
		require.Equal(t, 1, r.brokerQoS(filter), "round %d", i)
		r.publish(t, "race/x", fmt.Sprint(i))
		require.Equal(t, fmt.Sprint(i), recv(t, b))
		cancelB()
		waitFor(t, "the filter to go", func() bool { return !slices.Contains(r.subscriptions(), filter) })
	}
}

// CloudUnsubscribe drops the cloud subscription however many subscribers it
// has; their channels stay open, and the next subscriber makes it again.
func TestCloudUnsubscribe(t *testing.T) {
	r := startRig(t)
	const filter = "cmd/+"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a, err := r.bus.CloudSubscribe(ctx, filter, 1)
	require.NoError(t, err)
	_, err = r.bus.CloudSubscribe(ctx, "other/+", 1)
	require.NoError(t, err)

	require.NoError(t, r.bus.CloudUnsubscribe(ctx, filter))
	assert.NotContains(t, r.subscriptions(), filter)
	assert.Contains(t, r.subscriptions(), "other/+")
	assert.Equal(t, -1, r.brokerQoS(filter))
	assert.Equal(t, 1, r.bus.CloudSubscribers(filter), "the local stream stays")
	r.reconnect(t)
	assert.NotContains(t, r.subscriptions(), filter, "not restored on reconnect")
	require.NoError(t, r.bus.CloudUnsubscribe(ctx, "never/subscribed"), "not an error")

	// The next subscriber makes the subscription again, for both.
	c, err := r.bus.CloudSubscribe(ctx, filter, 0)
	require.NoError(t, err)
	assert.Contains(t, r.subscriptions(), filter)
	assert.Equal(t, 1, r.brokerQoS(filter), "the highest QoS of the subscribers")
	r.publish(t, "cmd/go", "go")
	assert.Equal(t, "go", recv(t, a))
	assert.Equal(t, "go", recv(t, c))

	cancel()
	waitFor(t, "the filters to go", func() bool { return len(r.subscriptions()) == 0 })
}

// Without an uplink, the release is bounded and the request that follows
// it is not held up for long.
func TestCloudUnsubscribeWithoutUplink(t *testing.T) {
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err = b.CloudUnsubscribe(ctx, "x/y")
	require.ErrorIs(t, err, bus.ErrNoReply)
	assert.Contains(t, err.Error(), "unsubscribe x/y")
}
