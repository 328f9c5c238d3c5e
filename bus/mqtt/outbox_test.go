package mqtt

import (
	"context"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/outbox"
	"github.com/iotd/iotd/core"
)

// Tests of the uplink's guarantees with and without a durable outbox:
// nothing reported stored is lost, one bad message never blocks the queue,
// memory and disk stay within their bounds, and a publisher that gives up
// is told the truth.

// boxOpener opens a durable outbox at place (a file's path); a second open
// of the same place finds what the first stored.
type boxOpener func(t *testing.T, place string, o outbox.Options) outbox.Store

// outboxes are the durable outboxes the uplink's tests run on: the file,
// and a JetStream stream on an embedded NATS server.
var outboxes = []struct {
	name string
	new  func(t *testing.T) boxOpener
}{
	{"file", func(*testing.T) boxOpener {
		return func(t *testing.T, path string, o outbox.Options) outbox.Store {
			t.Helper()
			box, err := outbox.Open(path, o)
			require.NoError(t, err)
			return box
		}
	}},
	{"jetstream", func(t *testing.T) boxOpener {
		srv := natstest.Run(t)
		return func(t *testing.T, place string, o outbox.Options) outbox.Store {
			t.Helper()
			nc, err := nats.Connect(srv.ClientURL())
			require.NoError(t, err)
			t.Cleanup(nc.Close)
			o.Sync, o.SyncInterval = "", 0
			box, err := natsbus.OpenOutbox(ctxT(t, 30*time.Second), nc, natsbus.OutboxConfig{
				Stream: fmt.Sprintf("OUTBOX_%x", crc32.ChecksumIEEE([]byte(place))), Options: o})
			require.NoError(t, err)
			return box
		}
	}},
}

// forEachOutbox runs test once on each durable outbox.
func forEachOutbox(t *testing.T, test func(t *testing.T, openBox boxOpener)) {
	for _, ob := range outboxes {
		t.Run(ob.name, func(t *testing.T) { test(t, ob.new(t)) })
	}
}

func noWait(t *testing.T, h *harness, topic string, payload []byte, qos byte) (bus.Result, error) {
	t.Helper()
	return h.bus.CloudPublishWith(ctxT(t, 30*time.Second), topic, payload, bus.PublishOptions{QoS: qos, NoWait: true})
}

// TestOutboxSurvivesRestart: 300 QoS 1 messages accepted while the broker is
// unreachable, the uplink stopped and its outbox closed, a new uplink on the
// reopened outbox: all 300 arrive, in order, before a newer one.
func TestOutboxSurvivesRestart(t *testing.T) {
	forEachOutbox(t, outboxSurvivesRestart)
}

func outboxSurvivesRestart(t *testing.T, openBox boxOpener) {
	b := startMosquitto(t)
	p := newPeer(t, b.Addr(), "cloud-app")
	p.subscribe(t, "dur/#", 1)
	path := filepath.Join(t.TempDir(), "outbox.db")

	box := openBox(t, path, outbox.Options{})
	h := newHarness(t, freePort(t), harnessOpts{cfg: Config{Outbox: box}})
	for i := range 300 {
		res, err := noWait(t, h, "dur/t", []byte(strconv.Itoa(i)), 1)
		require.NoError(t, err)
		require.Equal(t, bus.Stored, res)
	}
	st := h.up.Status()
	require.NotNil(t, st.Outbox)
	assert.Equal(t, 300, st.Outbox.Messages)
	assert.Zero(t, st.Memory.Messages, "QoS 1 payloads are on disk, not in memory")
	h.stop(t)
	require.NoError(t, box.Close())

	box = openBox(t, path, outbox.Options{})
	defer box.Close()
	h2 := newHarness(t, b.Addr(), harnessOpts{cfg: Config{Outbox: box}})
	assert.Equal(t, 300, h2.up.Status().QueueDepth+h2.up.Status().Inflight, "replayed before anything new")
	require.NoError(t, h2.bus.CloudPublish(ctxT(t, 30*time.Second), "dur/t", []byte("new"), 1))
	waitFor(t, "all messages at the peer", func() bool { return len(p.received("dur/t")) == 301 })
	want := make([]string, 0, 301)
	for i := range 300 {
		want = append(want, strconv.Itoa(i))
	}
	assert.Equal(t, append(want, "new"), p.received("dur/t"), "order kept across the restart")
	waitFor(t, "outbox emptied", func() bool { return h2.up.Status().Outbox.Messages == 0 })
	waitFor(t, "removals committed", func() bool { return len(box.Pending()) == 0 })
}

// TestPoisonMessageParked: mosquitto with a real packet limit closes the
// connection on a 100 KB publish. The message is parked after
// DeadLetterAfter sessions, its publisher is told why, and the messages
// behind it are delivered; retry and drop handle the dead letter.
func TestPoisonMessageParked(t *testing.T) {
	for _, ob := range append(outboxes, struct {
		name string
		new  func(t *testing.T) boxOpener
	}{"memory", nil}) {
		durable := ob.new != nil
		t.Run("outbox="+ob.name, func(t *testing.T) {
			b := startMosquittoConf(t, false, "max_packet_size 65536\n")
			p := newPeer(t, b.Addr(), "cloud-app")
			p.subscribe(t, "p/#", 1)
			cfg := Config{MaxPayload: 200 << 10}
			if durable {
				box := ob.new(t)(t, filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
				t.Cleanup(func() { _ = box.Close() })
				cfg.Outbox = box
			}
			h := newHarness(t, b.Addr(), harnessOpts{cfg: cfg})
			waitFor(t, "connected", h.connected)

			poisoned := make(chan error, 1)
			go func() {
				poisoned <- h.bus.CloudPublish(ctxT(t, 60*time.Second), "p/big", make([]byte, 100<<10), 1)
			}()
			waitFor(t, "the big message on its way", func() bool { return h.up.Status().Inflight+h.up.Status().QueueDepth > 0 })
			for i := range 3 {
				res, err := noWait(t, h, "p/small", []byte(strconv.Itoa(i)), 1)
				require.NoError(t, err)
				require.Equal(t, bus.Stored, res)
			}
			waitFor(t, "the messages behind it", func() bool { return len(p.received("p/small")) == 3 })
			assert.Equal(t, []string{"0", "1", "2"}, p.received("p/small"))
			err := <-poisoned
			require.ErrorIs(t, err, bus.ErrRefused)
			assert.Contains(t, err.Error(), "parked as a dead letter")
			assert.Contains(t, err.Error(), "ended the MQTT session 3 times")
			assert.Empty(t, p.received("p/big"))

			dead, err := h.up.DeadLetters()
			require.NoError(t, err)
			require.Len(t, dead, 1)
			assert.Equal(t, "p/big", dead[0].Topic)
			assert.Equal(t, 100<<10, dead[0].Size)
			assert.Equal(t, durable, dead[0].Durable)
			assert.Equal(t, 1, h.up.Status().DeadLetters)
			assert.Equal(t, 1, h.up.Status().Parked)

			// Retried, it ends sessions again and is parked again; the
			// queue keeps moving.
			require.NoError(t, h.up.RetryDeadLetter(dead[0].ID))
			waitFor(t, "parked again", func() bool { return h.up.Status().Parked == 2 })
			require.NoError(t, h.bus.CloudPublish(ctxT(t, 30*time.Second), "p/small", []byte("after"), 1))
			dead, err = h.up.DeadLetters()
			require.NoError(t, err)
			require.Len(t, dead, 1)
			require.NoError(t, h.up.DropDeadLetter(dead[0].ID))
			dead, err = h.up.DeadLetters()
			require.NoError(t, err)
			assert.Empty(t, dead)
			assert.ErrorIs(t, h.up.DropDeadLetter("12345"), ErrNoDeadLetter)
			assert.ErrorIs(t, h.up.DropDeadLetter("m77"), ErrNoDeadLetter)
		})
	}
}

// TestPublishLimitsAtAccept: a payload over max_payload and a publish past
// the memory bounds are refused at once, with the limits named.
func TestPublishLimitsAtAccept(t *testing.T) {
	h := newHarness(t, freePort(t), harnessOpts{cfg: Config{QueueSize: 100, QueueBytes: 1000}})
	_, err := noWait(t, h, "a/b", make([]byte, DefaultMaxPayload+1), 0)
	require.ErrorIs(t, err, bus.ErrRefused)
	assert.Contains(t, err.Error(), "the limit is 16384 (mqtt.max_payload")

	res, err := noWait(t, h, "a/b", make([]byte, 600), 0)
	require.NoError(t, err)
	assert.Equal(t, bus.Stored, res)
	_, err = noWait(t, h, "a/b", make([]byte, 600), 1)
	require.ErrorIs(t, err, bus.ErrRefused)
	assert.Contains(t, err.Error(), "memory queue (mqtt.queue_size, mqtt.queue_bytes) full: 1 of 100 messages, 603 B of 1000 B")
	assert.Equal(t, Bound{Messages: 1, Bytes: 603, MaxMessages: 100, MaxBytes: 1000}, h.up.Status().Memory)
}

// TestOverflowDropOldest: with drop_oldest a full queue makes room.
func TestOverflowDropOldest(t *testing.T) {
	forEachOutbox(t, overflowDropOldest)
}

func overflowDropOldest(t *testing.T, openBox boxOpener) {
	b := startMosquitto(t)
	p := newPeer(t, b.Addr(), "cloud-app")
	p.subscribe(t, "d/#", 0)
	box := openBox(t, filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{MaxMessages: 3})
	defer box.Close()
	addr := freePort(t)
	h := newHarness(t, addr, harnessOpts{cfg: Config{Outbox: box, QueueSize: 2, Overflow: OverflowDropOldest}})
	for i := range 5 {
		_, err := noWait(t, h, "d/q0", []byte(strconv.Itoa(i)), 0)
		require.NoError(t, err)
		_, err = noWait(t, h, "d/q1", []byte(strconv.Itoa(i)), 1)
		require.NoError(t, err)
	}
	st := h.up.Status()
	assert.Equal(t, 2, st.Memory.Messages)
	assert.Equal(t, 3, st.Outbox.Messages)
	assert.Len(t, box.Pending(), 3, "dropped messages leave the outbox too")
	h.stop(t)

	newHarness(t, b.Addr(), harnessOpts{cfg: Config{Outbox: box}}) // the outbox goes out
	waitFor(t, "the newest QoS 1 messages", func() bool { return len(p.received("d/q1")) == 3 })
	assert.Equal(t, []string{"2", "3", "4"}, p.received("d/q1"))
}

// TestWithdrawWhenThePublisherGivesUp: a publisher whose context ends
// before its message went out is told "not sent", and the message is not
// sent later; one already on the wire is reported stored, never failed.
func TestWithdrawWhenThePublisherGivesUp(t *testing.T) {
	forEachOutbox(t, withdrawWhenThePublisherGivesUp)
}

func withdrawWhenThePublisherGivesUp(t *testing.T, openBox boxOpener) {
	b := startMosquitto(t)
	p := newPeer(t, b.Addr(), "cloud-app")
	p.subscribe(t, "w/#", 1)
	box := openBox(t, filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	defer box.Close()
	h := newHarness(t, b.Addr(), harnessOpts{cfg: Config{Outbox: box}})
	waitFor(t, "connected", h.connected)
	release := h.hold() // the next connection waits
	b.Stop(t)
	waitFor(t, "link down", func() bool { return !h.connected() })

	for i := range 20 {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		res, err := h.bus.CloudPublishWith(ctx, "w/t", []byte(strconv.Itoa(i)), bus.PublishOptions{QoS: byte(i % 2)})
		cancel()
		require.ErrorIs(t, err, bus.ErrNotSent)
		assert.Equal(t, bus.NotSent, res)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	}
	assert.Zero(t, h.up.Status().QueueDepth)
	assert.Empty(t, box.Pending())
	res, err := noWait(t, h, "w/t", []byte("kept"), 1)
	require.NoError(t, err)
	require.Equal(t, bus.Stored, res)

	b.Start(t)
	p = newPeer(t, b.Addr(), "cloud-app-2")
	p.subscribe(t, "w/#", 1)
	release()
	waitFor(t, "the kept message", func() bool { return len(p.received("w/t")) == 1 })
	assert.Equal(t, []string{"kept"}, p.received("w/t"), "withdrawn messages were not sent")
}

// TestPublishBeforeServingFailsAtOnce: with no uplink running, a publish
// fails at once instead of waiting for its context.
func TestPublishBeforeServingFailsAtOnce(t *testing.T) {
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	defer b.Close()
	ctx := ctxT(t, time.Hour)
	_, err = b.CloudPublishWith(ctx, "a/b", nil, bus.PublishOptions{QoS: 1})
	require.ErrorIs(t, err, bus.ErrNotServing)
	require.ErrorIs(t, err, bus.ErrRefused)
	require.NoError(t, ctx.Err(), "answered before the context ended")
}

// TestTenThousandAcrossTwoBrokerRestarts: 10 000 QoS 1 messages through the
// outbox while mosquitto (persistence on) is restarted twice: every message
// reaches the far side.
func TestTenThousandAcrossTwoBrokerRestarts(t *testing.T) {
	forEachOutbox(t, tenThousandAcrossTwoBrokerRestarts)
}

func tenThousandAcrossTwoBrokerRestarts(t *testing.T, openBox boxOpener) {
	const total = 10000
	b := startMosquittoWith(t, true)
	w := &durableWatcher{seen: map[string]bool{}}
	c := w.connect(t, b.Addr())
	tok := c.Subscribe("ten/#", 1, nil)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	box := openBox(t, filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{Sync: outbox.SyncAlways, MaxMessages: total})
	defer box.Close()
	h := newHarness(t, b.Addr(), harnessOpts{cfg: Config{Outbox: box}, backoff: core.BackoffConfig{
		Initial: core.Duration(100 * time.Millisecond), Max: core.Duration(time.Second),
	}})
	waitFor(t, "connected", h.connected)

	var failed sync.Map
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				if _, err := noWait(t, h, "ten/t", []byte(strconv.Itoa(i)), 1); err != nil {
					failed.Store(i, err)
				}
			}
		})
	}
	go func() {
		for i := range total {
			next <- i
		}
		close(next)
	}()
	for _, at := range []int{total / 4, total / 2} {
		waitFor(t, "part of the stream", func() bool { return w.count() >= at })
		b.Stop(t)
		waitFor(t, "link down", func() bool { return !h.connected() })
		b.Start(t)
		w.connect(t, b.Addr())
	}
	wg.Wait()
	failed.Range(func(k, v any) bool { t.Errorf("publish %v: %v", k, v); return true })
	deadline := time.Now().Add(60 * time.Second)
	for w.count() < total && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	w.mu.Lock()
	var missing []string
	for i := range total {
		if !w.seen[strconv.Itoa(i)] {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	w.mu.Unlock()
	assert.Empty(t, missing, "messages lost: %s", strings.Join(missing[:min(len(missing), 20)], ","))
	waitFor(t, "outbox drained", func() bool { return h.up.Status().Outbox.Messages == 0 })
}

// TestNilOutboxPointerMeansNone: a nil *outbox.Outbox in Config.Outbox (an
// embedder's code from before it was an outbox.Store) means no outbox, as
// it did.
func TestNilOutboxPointerMeansNone(t *testing.T) {
	h := newHarness(t, freePort(t), harnessOpts{cfg: Config{Outbox: (*outbox.Outbox)(nil)}})
	res, err := noWait(t, h, "n/t", []byte("x"), 1)
	require.NoError(t, err)
	assert.Equal(t, bus.Stored, res)
	assert.Nil(t, h.up.Status().Outbox)
	assert.Equal(t, 1, h.up.Status().Memory.Messages)
}

// failingReads is a store whose first reads of a payload fail as storage
// failures (ErrDisk): a NATS server out of reach, an I/O error.
type failingReads struct {
	outbox.Store
	fails atomic.Int32 // reads left to fail
}

func (f *failingReads) Payload(seq uint64) ([]byte, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, fmt.Errorf("outbox: payload of %d: %w: server unreachable", seq, outbox.ErrDisk)
	}
	return f.Store.Payload(seq)
}

// TestUnreadablePayloadWaitsInsteadOfParking: a payload the store fails to
// read (ErrDisk) is not a damaged message: it keeps its place and is read
// again, and nothing is parked.
func TestUnreadablePayloadWaitsInsteadOfParking(t *testing.T) {
	b := startMosquitto(t)
	p := newPeer(t, b.Addr(), "cloud-app")
	p.subscribe(t, "fr/#", 1)
	path := filepath.Join(t.TempDir(), "outbox.db")

	box, err := outbox.Open(path, outbox.Options{})
	require.NoError(t, err)
	h := newHarness(t, freePort(t), harnessOpts{cfg: Config{Outbox: box}})
	for i := range 5 {
		res, err := noWait(t, h, "fr/t", []byte(strconv.Itoa(i)), 1)
		require.NoError(t, err)
		require.Equal(t, bus.Stored, res)
	}
	h.stop(t)
	require.NoError(t, box.Close())

	box, err = outbox.Open(path, outbox.Options{})
	require.NoError(t, err)
	defer box.Close()
	flaky := &failingReads{Store: box}
	flaky.fails.Store(3)
	h2 := newHarness(t, b.Addr(), harnessOpts{cfg: Config{Outbox: flaky}})
	waitFor(t, "all messages at the peer", func() bool { return len(p.received("fr/t")) == 5 })
	assert.Equal(t, []string{"0", "1", "2", "3", "4"}, p.received("fr/t"), "in order, the first read again")
	assert.Less(t, flaky.fails.Load(), int32(0), "the failing reads happened")
	assert.Zero(t, h2.up.Status().DeadLetters, "nothing parked")
	dead, err := box.Dead()
	require.NoError(t, err)
	assert.Empty(t, dead)
}
