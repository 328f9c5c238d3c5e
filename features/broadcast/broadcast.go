package broadcast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotd/iotd/internal/fanout"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/features/hook"
)

// subscriberBuffer is how many messages a local subscriber may lag behind
// before further messages skip it.
const subscriberBuffer = 64

// Topic is the broadcast topic of device pid/dn.
func Topic(pid, dn string) string { return "$broadcast/rxd/" + pid + "/" + dn }

// Message is one broadcast.
type Message struct {
	Topic    string    `json:"topic"`
	Payload  []byte    `json:"payload"`
	Received time.Time `json:"received"`
}

// Stats are the feature's counters since New, for `iotd status`.
type Stats struct {
	// Received counts broadcasts that arrived.
	Received int64 `json:"received"`
	// HookRuns and HookFailures count hook runs and those that failed.
	HookRuns     int64 `json:"hookRuns"`
	HookFailures int64 `json:"hookFailures"`
	// Dropped counts messages that skipped the hook because its queue was
	// full; SubscriberDrops those that skipped a lagging local subscriber.
	Dropped         int64 `json:"dropped"`
	SubscriberDrops int64 `json:"subscriberDrops"`
	// Subscribers is the number of local subscribers now.
	Subscribers int `json:"subscribers"`
}

// Broadcast is the broadcast feature. Create it with [New]; call Run. Its
// methods are safe for concurrent use.
type Broadcast struct {
	cfg   Config
	bus   *bus.Bus
	hook  *hook.Runner
	log   *slog.Logger
	pid   string
	dn    string
	topic string
	now   func() time.Time

	subs fanout.Set[Message]

	received, hookRuns, hookFailures, dropped, subDrops atomic.Int64
}

// New prepares broadcast reception for device pid/dn. log may be nil. New
// does no I/O.
func New(cfg Config, b *bus.Bus, productID, deviceName string, log *slog.Logger) (*Broadcast, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Queue == 0 {
		cfg.Queue = DefaultQueue
	}
	if b == nil {
		return nil, errors.New("broadcast: bus is required")
	}
	if productID == "" || deviceName == "" {
		return nil, errors.New("broadcast: product id and device name are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("feature", "broadcast")
	bc := &Broadcast{cfg: cfg, bus: b, log: log, pid: productID, dn: deviceName,
		topic: Topic(productID, deviceName), now: time.Now}
	if cfg.Hook.Enabled() {
		h, err := hook.New(cfg.Hook, log)
		if err != nil {
			return nil, fmt.Errorf("broadcast: %w", err)
		}
		bc.hook = h
	}
	return bc, nil
}

// Run subscribes to the device's broadcast topic and delivers messages
// until ctx ends; it returns nil then. When it returns, subscriber channels
// are closed and hook runs have ended.
func (bc *Broadcast) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer func() {
		bc.stop()
		wg.Wait()
	}()
	if bc.cfg.Disabled {
		<-ctx.Done()
		return nil
	}
	msgs, err := bc.bus.CloudSubscribeWait(ctx, bc.topic, 1)
	if err != nil {
		return nil // ctx ended
	}
	var queue chan Message
	if bc.hook != nil {
		queue = make(chan Message, bc.cfg.Queue)
		for range bc.hook.Config().Concurrency {
			wg.Go(func() { bc.hookWorker(ctx, queue) })
		}
	}
	bc.log.Info("receiving broadcasts", "topic", bc.topic, "hook", bc.hook != nil)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			m.Ack()
			bc.deliver(m, queue)
		}
	}
}

func (bc *Broadcast) deliver(m *message.Message, queue chan Message) {
	msg := Message{Topic: m.Metadata.Get(bus.MetaTopic), Payload: append([]byte(nil), m.Payload...), Received: bc.now()}
	if msg.Topic == "" {
		msg.Topic = bc.topic
	}
	bc.received.Add(1)
	bc.log.Debug("broadcast received", "bytes", len(msg.Payload))
	if _, dropped := bc.subs.Send(msg); dropped > 0 {
		bc.subDrops.Add(int64(dropped))
		bc.log.Warn("broadcast skipped local subscribers", "subscribers", dropped, "reason", "subscriber is not reading")
	}
	if queue == nil {
		return
	}
	select {
	case queue <- msg:
	default:
		bc.dropped.Add(1)
		bc.log.Warn("broadcast not passed to the hook", "reason",
			fmt.Sprintf("%d messages already wait for it (queue); the hook is too slow", cap(queue)))
	}
}

func (bc *Broadcast) hookWorker(ctx context.Context, queue <-chan Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-queue:
			bc.hookRuns.Add(1)
			res, err := bc.hook.Run(ctx, msg.Payload, map[string]string{
				"IOTD_FEATURE":     "broadcast",
				"IOTD_TOPIC":       msg.Topic,
				"IOTD_PRODUCT_ID":  bc.pid,
				"IOTD_DEVICE_NAME": bc.dn,
			})
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				bc.hookFailures.Add(1)
				bc.log.Warn("broadcast hook failed", "err", err)
				continue
			}
			bc.log.Debug("broadcast hook done", "took", res.Duration, "stdout_bytes", len(res.Stdout))
		}
	}
}

// Subscribe returns a channel that receives every broadcast from now on,
// until ctx ends or Run returns; then it is closed. A subscriber that falls
// behind misses messages (counted in Stats.SubscriberDrops) rather than
// holding up the others.
func (bc *Broadcast) Subscribe(ctx context.Context) <-chan Message {
	return bc.subs.Subscribe(ctx, subscriberBuffer)
}

// Stats returns the counters.
func (bc *Broadcast) Stats() Stats {
	n := bc.subs.Len()
	return Stats{Received: bc.received.Load(), HookRuns: bc.hookRuns.Load(), HookFailures: bc.hookFailures.Load(),
		Dropped: bc.dropped.Load(), SubscriberDrops: bc.subDrops.Load(), Subscribers: n}
}

func (bc *Broadcast) stop() { bc.subs.Close() }
