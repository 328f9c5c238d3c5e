package mqtt

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/core/linkstate"
	"github.com/iotd/iotd/drivers/posix"
)

// harness runs an uplink over a real TCP link to addr.
type harness struct {
	bus    *bus.Bus
	link   *core.Link
	up     *Uplink
	creds  atomic.Int32
	gate   atomic.Pointer[chan struct{}] // when set, Credentials waits for it
	cancel context.CancelFunc
	done   chan error
}

type harnessOpts struct {
	cfg      Config
	username string
	backoff  core.BackoffConfig
	// driver, when set, replaces the TCP driver (addr is then passed to it).
	driver driver.Driver
	// published is set as Uplink.published (see there).
	published func(*outMsg)
}

func newHarness(t *testing.T, addr string, o harnessOpts) *harness {
	t.Helper()
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	reg := core.NewRegistry()
	drv := o.driver
	if drv == nil {
		drv = posix.NewTCP()
	}
	require.NoError(t, reg.Register(drv))
	if o.backoff == (core.BackoffConfig{}) {
		o.backoff = core.BackoffConfig{Initial: core.Duration(20 * time.Millisecond), Max: core.Duration(200 * time.Millisecond)}
	}
	link, err := reg.OpenLink(core.LinkConfig{Driver: drv.Name(), Address: addr, DialTimeout: 5 * time.Second, Backoff: o.backoff},
		core.LinkOptions{OnState: b.PublishLinkState})
	require.NoError(t, err)
	h := &harness{bus: b, link: link, done: make(chan error, 1)}
	cfg := o.cfg
	id := fmt.Sprintf("dev-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	cfg.Credentials = func() (core.Credentials, error) {
		n := h.creds.Add(1)
		if g := h.gate.Load(); g != nil {
			<-*g
		}
		user := o.username
		if user == "" {
			user = fmt.Sprintf("%s;21010406;c%04d;0", id, n)
		}
		return core.Credentials{ClientID: id, Username: user, Password: "pw"}, nil
	}
	h.up, err = New(cfg, link, b, nil)
	require.NoError(t, err)
	h.up.published = o.published
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.up.Run(ctx) }()
	<-h.up.Serving()
	t.Cleanup(func() { h.stop(t); _ = b.Close() })
	return h
}

func (h *harness) stop(t *testing.T) {
	t.Helper()
	if g := h.gate.Swap(nil); g != nil {
		close(*g)
	}
	h.cancel()
	select {
	case err := <-h.done:
		assert.NoError(t, err)
		h.done <- nil // later stops return at once
	case <-time.After(20 * time.Second):
		t.Fatal("uplink Run did not return after cancel")
	}
}

// hold makes the next connection attempts wait in Credentials until the
// returned function is called.
func (h *harness) hold() func() {
	g := make(chan struct{})
	h.gate.Store(&g)
	var once sync.Once
	return func() {
		once.Do(func() {
			if h.gate.CompareAndSwap(&g, nil) {
				close(g)
			}
		})
	}
}

func (h *harness) connected() bool {
	return h.link.State().State == linkstate.Connected && !h.up.Status().ConnectedSince.IsZero()
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// next returns the next message on ch, acked.
func next(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "downlink channel closed")
		m.Ack()
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no downlink message")
		return nil
	}
}

func TestUplinkPublishAndSubscribe(t *testing.T) {
	for _, br := range brokers() {
		t.Run(br.name, func(t *testing.T) {
			b := br.start(t)
			h := newHarness(t, b.Addr(), harnessOpts{})
			p := newPeer(t, b.Addr(), "cloud-app")
			p.subscribe(t, "up/#", 1)
			waitFor(t, "connected", h.connected)

			ctx := ctxT(t, 20*time.Second)
			require.NoError(t, h.bus.CloudPublish(ctx, "up/q0", []byte("zero"), 0))
			require.NoError(t, h.bus.CloudPublish(ctx, "up/q1", []byte("one"), 1))
			waitFor(t, "QoS 0 message at the peer", func() bool { return len(p.received("up/q0")) == 1 })
			waitFor(t, "QoS 1 message at the peer", func() bool { return len(p.received("up/q1")) == 1 })
			assert.Equal(t, []string{"zero"}, p.received("up/q0"))
			assert.Equal(t, []string{"one"}, p.received("up/q1"))

			plus, err := h.bus.CloudSubscribe(ctx, "dev/+/data", 1)
			require.NoError(t, err)
			hash, err := h.bus.CloudSubscribe(ctx, "dev/#", 0)
			require.NoError(t, err)

			p.publish(t, "dev/a/data", 1, "A")
			for _, ch := range []<-chan *message.Message{plus, hash} {
				m := next(t, ch)
				assert.Equal(t, "A", string(m.Payload))
				assert.Equal(t, "dev/a/data", m.Metadata.Get(bus.MetaTopic))
			}
			p.publish(t, "dev/x", 1, "X")
			m := next(t, hash)
			assert.Equal(t, "X", string(m.Payload))
			assert.Equal(t, "dev/x", m.Metadata.Get(bus.MetaTopic))
			p.publish(t, "dev/b/data", 0, "B")
			m = next(t, plus) // not X: dev/x does not match dev/+/data
			assert.Equal(t, "B", string(m.Payload))
			assert.Equal(t, "0", m.Metadata.Get(bus.MetaQoS))
			next(t, hash)

			st := h.up.Status()
			assert.Equal(t, []string{"dev/#", "dev/+/data"}, st.Subscriptions)
			assert.Equal(t, linkstate.Connected, st.State.State)
			assert.Zero(t, st.QueueDepth)
			assert.Zero(t, st.Inflight)

			// After unsubscribing "dev/#", only the + filter receives.
			unsub := message.NewMessage("u1", nil)
			unsub.Metadata.Set(bus.MetaFilter, "dev/#")
			_, err = h.bus.Request(ctx, bus.TopicUplinkUnsubscribe, unsub)
			require.NoError(t, err)
			p.publish(t, "dev/y", 1, "Y")
			p.publish(t, "dev/c/data", 1, "C")
			assert.Equal(t, "C", string(next(t, plus).Payload))
			select {
			case m := <-hash:
				m.Ack()
				t.Fatalf("message %q after unsubscribe", m.Payload)
			case <-time.After(50 * time.Millisecond):
			}
			assert.Equal(t, []string{"dev/+/data"}, h.up.Status().Subscriptions)
		})
	}
}

func TestUplinkRejectsBadRequests(t *testing.T) {
	b := startMochi(t, "")
	h := newHarness(t, b.Addr(), harnessOpts{})
	waitFor(t, "connected", h.connected)
	ctx := ctxT(t, 20*time.Second)

	pub := func(topic, qos string) error {
		m := message.NewMessage("p", []byte("x"))
		m.Metadata.Set(bus.MetaTopic, topic)
		m.Metadata.Set(bus.MetaQoS, qos)
		_, err := h.bus.Request(ctx, bus.TopicUplinkPublish, m)
		return err
	}
	sub := func(filter, qos string) error {
		m := message.NewMessage("s", nil)
		m.Metadata.Set(bus.MetaFilter, filter)
		m.Metadata.Set(bus.MetaQoS, qos)
		_, err := h.bus.Request(ctx, bus.TopicUplinkSubscribe, m)
		return err
	}
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{name: "publish QoS 2", do: func() error { return pub("a/b", "2") }, want: "-120"},
		{name: "publish bad QoS", do: func() error { return pub("a/b", "x") }, want: `qos "x": use 0 or 1`},
		{name: "publish long topic", do: func() error { return pub(strings.Repeat("t", 129), "0") }, want: "129 bytes, the hub's limit is 128"},
		{name: "publish wildcard", do: func() error { return pub("a/+", "0") }, want: "wildcard"},
		{name: "publish empty topic", do: func() error { return pub("", "1") }, want: "topic is empty"},
		{name: "subscribe QoS 2", do: func() error { return sub("a/#", "2") }, want: "-120"},
		{name: "subscribe bad filter", do: func() error { return sub("a/#/b", "0") }, want: "'#' must be the last level"},
		{name: "subscribe refused by broker", do: func() error { return sub("forbidden/x", "1") }, want: "refused the subscription"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	assert.Empty(t, h.up.Status().Subscriptions)
	require.NoError(t, pub(strings.Repeat("t", 128), "1"), "128 bytes is allowed")
}

func TestUplinkQueuesWhileDisconnected(t *testing.T) {
	addr := freePort(t) // nothing listens yet
	h := newHarness(t, addr, harnessOpts{cfg: Config{QueueSize: 3}})
	ctx := ctxT(t, 30*time.Second)

	// Subscriptions made while offline are recorded and replied to at once.
	down, err := h.bus.CloudSubscribe(ctx, "cmd/+", 1)
	require.NoError(t, err)

	errs := make(chan error, 3)
	for i, qos := range []byte{0, 1, 0} {
		go func() { errs <- h.bus.CloudPublish(ctx, "q/t", fmt.Appendf(nil, "m%d", i), qos) }()
		waitFor(t, "message queued", func() bool { return h.up.Status().QueueDepth == i+1 })
	}
	err = h.bus.CloudPublish(ctx, "q/t", []byte("overflow"), 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "uplink: memory queue (mqtt.queue_size, mqtt.queue_bytes) full: 3 of 3 messages")
	st := h.up.Status()
	assert.Equal(t, 3, st.QueueDepth)
	assert.NotEqual(t, linkstate.Connected, st.State.State)
	assert.Equal(t, Outcomes{Refused: 1}, st.Published)
	assert.Zero(t, st.Sessions)
	waitFor(t, "the dial's refusal in the status", func() bool {
		st := h.up.Status()
		return strings.Contains(st.LastError+st.State.Err, "refused")
	})
	select {
	case err := <-errs:
		t.Fatalf("a queued publish was answered while offline: %v", err)
	default:
	}

	release := h.hold()
	b := startMochi(t, addr)
	p := newPeer(t, b.Addr(), "cloud-app")
	p.subscribe(t, "q/#", 1)
	release()
	for range 3 {
		require.NoError(t, <-errs)
	}
	waitFor(t, "queued messages at the peer", func() bool { return len(p.received("q/t")) == 3 })
	assert.Equal(t, []string{"m0", "m1", "m2"}, p.received("q/t"), "queue order kept, QoS 0 not dropped")
	st = h.up.Status()
	assert.Equal(t, Outcomes{Acknowledged: 3, Refused: 1}, st.Published)
	assert.Equal(t, int64(1), st.Sessions)

	p.publish(t, "cmd/reboot", 1, "now")
	m := next(t, down)
	assert.Equal(t, "now", string(m.Payload))
}

// A publisher that gives up while offline withdraws its message: counted
// as not sent, and nothing else.
func TestUplinkCountsWithdrawals(t *testing.T) {
	h := newHarness(t, freePort(t), harnessOpts{})
	ctx, cancel := context.WithCancel(ctxT(t, 30*time.Second))
	res := make(chan bus.Result, 1)
	go func() {
		r, _ := h.bus.CloudPublishWith(ctx, "q/t", []byte("late"), bus.PublishOptions{QoS: 1})
		res <- r
	}()
	waitFor(t, "message queued", func() bool { return h.up.Status().QueueDepth == 1 })
	cancel()
	assert.Equal(t, bus.NotSent, <-res)
	st := h.up.Status()
	assert.Equal(t, Outcomes{NotSent: 1}, st.Published)
	assert.Zero(t, st.QueueDepth)
}

func TestUplinkResubscribesAfterReconnect(t *testing.T) {
	for _, br := range brokers() {
		t.Run(br.name, func(t *testing.T) {
			b := br.start(t)
			h := newHarness(t, b.Addr(), harnessOpts{})
			waitFor(t, "connected", h.connected)
			ctx := ctxT(t, 30*time.Second)
			down, err := h.bus.CloudSubscribe(ctx, "r/+", 1)
			require.NoError(t, err)
			p := newPeer(t, b.Addr(), "cloud-app-1")
			p.publish(t, "r/1", 1, "before")
			assert.Equal(t, "before", string(next(t, down).Payload))

			before := h.creds.Load()
			b.Stop(t)
			waitFor(t, "link down", func() bool { return !h.connected() })
			b.Start(t)
			waitFor(t, "reconnected", h.connected)
			assert.Greater(t, h.creds.Load(), before, "fresh credentials per connect")

			p = newPeer(t, b.Addr(), "cloud-app-2")
			// The resubscription is made right after CONNACK; publish until
			// it has reached the broker.
			got := make(chan *message.Message, 1)
			go func() {
				if m, ok := <-down; ok {
					m.Ack()
					got <- m
				}
			}()
			for i := 0; ; i++ {
				p.publish(t, "r/2", 1, "after")
				select {
				case m := <-got:
					assert.Equal(t, "after", string(m.Payload))
					assert.Equal(t, "r/2", m.Metadata.Get(bus.MetaTopic))
					return
				case <-time.After(100 * time.Millisecond):
				}
				require.Less(t, i, 100, "no message after reconnect: subscription not restored")
			}
		})
	}
}

func TestUplinkReportsConnackRefusal(t *testing.T) {
	b := startMochi(t, "")
	h := newHarness(t, b.Addr(), harnessOpts{username: "bad"})
	waitFor(t, "two refused attempts", func() bool { return h.creds.Load() >= 2 })
	waitFor(t, "refusal reported", func() bool {
		st := h.up.Status()
		return st.LastError != "" && st.State.State == linkstate.Disconnected
	})
	st := h.up.Status()
	// mochi answers a refused login with "not authorized" (5).
	assert.Contains(t, st.LastError, "CONNACK return code 5")
	assert.Contains(t, st.LastError, "not authorized")
	assert.Contains(t, st.State.Err, "not authorized")
	assert.NotEqual(t, linkstate.Connected, st.State.State)
}

func TestUplinkStopFailsQueuedAndLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		b := startMochi(t, "")
		h := newHarness(t, b.Addr(), harnessOpts{})
		waitFor(t, "connected", h.connected)
		ctx := ctxT(t, 20*time.Second)
		_, err := h.bus.CloudSubscribe(ctx, "s/#", 1)
		require.NoError(t, err)
		require.NoError(t, h.bus.CloudPublish(ctx, "s/x", []byte("x"), 1))
		b.Stop(t)
		waitFor(t, "link down", func() bool { return !h.connected() })
		errc := make(chan error, 1)
		go func() { errc <- h.bus.CloudPublish(ctx, "s/y", []byte("y"), 1) }()
		waitFor(t, "queued", func() bool { return h.up.Status().QueueDepth == 1 })
		h.stop(t)
		err = <-errc
		require.Error(t, err)
		assert.Contains(t, err.Error(), "stopped before the message was sent")
		assert.Equal(t, linkstate.Stopped, h.link.State().State)
		require.NoError(t, h.bus.Close())
	}()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestConfigValidate(t *testing.T) {
	creds := func() (core.Credentials, error) { return core.Credentials{}, nil }
	no := false
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{name: "defaults", cfg: Config{Credentials: creds}},
		{name: "persistent session", cfg: Config{Credentials: creds, CleanSession: &no}},
		{name: "no credentials", cfg: Config{}, field: "credentials"},
		{name: "negative keepalive", cfg: Config{Credentials: creds, KeepAlive: -time.Second}, field: "keepalive"},
		{name: "sub-second keepalive", cfg: Config{Credentials: creds, KeepAlive: time.Millisecond}, field: "keepalive"},
		{name: "negative connect timeout", cfg: Config{Credentials: creds, ConnectTimeout: -1}, field: "connect_timeout"},
		{name: "negative queue", cfg: Config{Credentials: creds, QueueSize: -1}, field: "queue_size"},
		{name: "huge inflight", cfg: Config{Credentials: creds, MaxInflight: 70000}, field: "max_inflight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			var ce *core.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.field, ce.Field)
		})
	}
	d := Config{KeepAlive: time.Hour}.withDefaults()
	assert.Equal(t, MaxKeepAlive, d.KeepAlive)
	assert.True(t, d.cleanSession())
	assert.Equal(t, DefaultQueueSize, d.QueueSize)
	assert.Equal(t, DefaultMaxInflight, d.MaxInflight)
	assert.False(t, Config{CleanSession: &no}.cleanSession())
}
