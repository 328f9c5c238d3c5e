package attencent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus"
	mqttup "github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
)

// Uplink is the at-tencent uplink. Create it with [New] and start it with
// Run.
type Uplink struct {
	cfg     Config
	bus     *bus.Bus
	log     *slog.Logger
	backoff *core.Backoff
	ev      *events
	started atomic.Bool
	rcv     *receiver
	ota     *otaSide

	serving chan struct{} // closed once the bus topics are subscribed
	wake    chan struct{} // capacity 1: an op was queued
	inbox   chan downlink // received messages, for the delivery goroutine

	mu      sync.Mutex // guards the fields below
	ops     []*op      // waiting for the module, oldest first
	pubs    int        // publishes among ops
	subs    map[string]byte
	up      bool // the module's client is connected now
	state   linkstate.State
	since   time.Time
	info    ModuleInfo
	lastErr string
}

type downlink struct {
	topic   string
	payload []byte
}

// op is one request waiting for the module.
type op struct {
	kind     opKind
	req      *message.Message // nil once answered (a publish that waits only to be stored)
	topic    string           // the topic or filter
	qos      byte
	payload  []byte
	attempts int
}

type opKind int

const (
	opPublish opKind = iota
	opSubscribe
	opUnsubscribe
)

// Status is a snapshot of the uplink, for `iotd status`.
type Status struct {
	State linkstate.State `json:"state"`
	// QueueDepth counts publishes waiting for the module.
	QueueDepth int `json:"queue_depth"`
	// Subscriptions lists the filters kept across reconnects, sorted.
	Subscriptions []string `json:"subscriptions"`
	// ConnectedSince is when the module's client connected; zero when it
	// is not connected.
	ConnectedSince time.Time `json:"connected_since,omitzero"`
	// Module identifies the module, once it answered.
	Module ModuleInfo `json:"module"`
	// LastError is why the last session ended or failed to start.
	LastError string `json:"last_error,omitempty"`
}

// Driver is the name the uplink reports in [linkstate.State].Driver.
const Driver = "at-tencent"

// New checks cfg and returns an uplink that drives the module on
// cfg.Port and serves b.
func New(cfg Config, b *bus.Bus) (*Uplink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errors.New("attencent: New needs a bus")
	}
	cfg = cfg.withDefaults()
	bo, err := core.NewBackoff(cfg.Backoff, cfg.Rand)
	if err != nil {
		return nil, err
	}
	u := &Uplink{
		cfg: cfg, bus: b, log: cfg.Logger, backoff: bo, ev: newEvents(),
		serving: make(chan struct{}), wake: make(chan struct{}, 1), inbox: make(chan downlink, inboxSize),
		subs: make(map[string]byte), ota: newOTASide(),
	}
	u.rcv = &receiver{deliver: u.received, bad: func(what string) { u.log.Warn("attencent: " + what + " was dropped") }}
	u.state = linkstate.State{State: linkstate.Disconnected, Driver: Driver, Endpoint: cfg.Port}
	return u, nil
}

// inboxSize bounds the received messages waiting for the bus.
const inboxSize = 256

// Serving returns a channel that is closed once Run serves the bus topics.
func (u *Uplink) Serving() <-chan struct{} { return u.serving }

// State returns the latest link state, as also published on the bus.
func (u *Uplink) State() linkstate.State {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state
}

// Status returns a snapshot of the uplink's state.
func (u *Uplink) Status() Status {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := Status{State: u.state, QueueDepth: u.pubs, Module: u.info, LastError: u.lastErr,
		Subscriptions: slices.Sorted(maps.Keys(u.subs))}
	if u.up {
		s.ConnectedSince = u.since
	}
	return s
}

// Run serves the bus protocol and keeps the module's MQTT client up until
// ctx ends, then disconnects it, replies with an error to every publish
// still queued and returns nil. It may be called once.
func (u *Uplink) Run(ctx context.Context) error {
	if !u.started.CompareAndSwap(false, true) {
		return errors.New("attencent: Run called twice")
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopServing, err := u.bus.Serve(ctx, map[string]func(*message.Message){
		bus.TopicUplinkPublish:     u.handlePublish,
		bus.TopicUplinkSubscribe:   u.handleSubscribe,
		bus.TopicUplinkUnsubscribe: func(m *message.Message) { u.handleUnsubscribe(ctx, m) },
	})
	if err != nil {
		return fmt.Errorf("attencent: %w", err)
	}
	var delivering sync.WaitGroup
	delivering.Go(func() { u.deliverLoop(ctx) })
	close(u.serving)

	u.keepUp(ctx)
	cancel()
	stopServing()
	delivering.Wait()
	u.mu.Lock()
	queued := u.ops
	u.ops, u.pubs = nil, 0
	u.mu.Unlock()
	for _, o := range queued {
		if o.kind == opPublish {
			u.answer(o, bus.NotSent, errors.New("attencent: stopped before the message was sent"))
		} else {
			u.reply(o.req)
		}
	}
	return nil
}

func (u *Uplink) handlePublish(req *message.Message) {
	if id := req.Metadata.Get(bus.MetaWithdraw); id != "" {
		u.withdraw(req, id)
		return
	}
	topic := req.Metadata.Get(bus.MetaTopic)
	qos, err := mqttup.ParseQoS(req.Metadata.Get(bus.MetaQoS))
	if err == nil {
		err = mqttup.ValidateTopic(topic)
	}
	if err == nil {
		_, err = publishCmd(topic, qos, req.Payload) // refuse now what the module cannot carry
	}
	if err != nil {
		_ = u.bus.PublishReply(req, bus.Refused, err)
		return
	}
	o := &op{kind: opPublish, req: req, topic: topic, qos: qos, payload: req.Payload}
	u.mu.Lock()
	if u.pubs >= u.cfg.QueueSize {
		u.mu.Unlock()
		_ = u.bus.PublishReply(req, bus.Refused, fmt.Errorf("attencent: queue full (%d messages, at_tencent.queue_size)", u.cfg.QueueSize))
		return
	}
	stored := req.Metadata.Get(bus.MetaWait) == "stored"
	if stored {
		o.req = nil
	}
	u.ops = append(u.ops, o)
	u.pubs++
	u.mu.Unlock()
	if stored {
		_ = u.bus.PublishReply(req, bus.Stored, nil)
	}
	u.poke()
}

// withdraw takes a publish out of the queue when its publisher gave up.
// One no longer queued is on its way or went out: Stored, never a false
// "not sent".
func (u *Uplink) withdraw(req *message.Message, id string) {
	res := bus.Stored
	u.mu.Lock()
	for i, o := range u.ops {
		if o.kind == opPublish && o.req != nil && o.req.UUID == id {
			u.ops = slices.Delete(u.ops, i, i+1)
			u.pubs--
			res = bus.NotSent
			break
		}
	}
	u.mu.Unlock()
	_ = u.bus.PublishReply(req, res, nil)
}

func (u *Uplink) handleSubscribe(req *message.Message) {
	filter := req.Metadata.Get(bus.MetaFilter)
	qos, err := mqttup.ParseQoS(req.Metadata.Get(bus.MetaQoS))
	if err == nil {
		err = mqttup.ValidateFilter(filter)
	}
	if err == nil {
		err = checkFilter(filter)
	}
	if err != nil {
		u.replyErr(req, err)
		return
	}
	u.mu.Lock()
	u.subs[filter] = qos
	up := u.up
	if up {
		u.ops = append(u.ops, &op{kind: opSubscribe, req: req, topic: filter, qos: qos})
	}
	u.mu.Unlock()
	if !up {
		u.reply(req) // recorded; made when the module connects
		return
	}
	u.poke()
}

func (u *Uplink) handleUnsubscribe(ctx context.Context, req *message.Message) {
	filter := req.Metadata.Get(bus.MetaFilter)
	u.mu.Lock()
	_, had := u.subs[filter]
	delete(u.subs, filter)
	up := u.up && had && ctx.Err() == nil
	if up {
		u.ops = append(u.ops, &op{kind: opUnsubscribe, req: req, topic: filter})
	}
	u.mu.Unlock()
	if !up {
		u.reply(req)
		return
	}
	u.poke()
}

func (u *Uplink) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// received is called on the engine's reader goroutine: it must not block.
func (u *Uplink) received(topic string, payload []byte) {
	select {
	case u.inbox <- downlink{topic: topic, payload: payload}:
	default:
		u.log.Warn("attencent: received message dropped: the bus is not keeping up", "topic", topic)
	}
}

func (u *Uplink) deliverLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-u.inbox:
			u.deliver(d.topic, d.payload)
		}
	}
}

// deliver hands a received message to the bus once for every filter it
// matches. The URC does not carry the QoS: the subscription's is given.
func (u *Uplink) deliver(topic string, payload []byte) {
	u.mu.Lock()
	matched := make(map[string]byte)
	for f, q := range u.subs {
		if mqttup.Match(f, topic) {
			matched[f] = q
		}
	}
	u.mu.Unlock()
	if len(matched) == 0 {
		u.log.Debug("attencent: message matches no subscription", "topic", topic)
		return
	}
	for f, q := range matched {
		// A subscriber's full queue is logged, and counted, by the bus.
		if err := u.bus.PublishDownlink(f, topic, q, payload); err != nil && !errors.Is(err, bus.ErrQueueFull) {
			u.log.Warn("attencent: downlink message not published on the bus", "topic", topic, "err", err)
		}
	}
}

// answer replies to a publish request, unless it was answered already.
func (u *Uplink) answer(o *op, res bus.Result, reason error) {
	if o.req == nil {
		if reason != nil {
			u.log.Warn("attencent: stored message not sent", "topic", o.topic, "err", reason)
		}
		return
	}
	if err := u.bus.PublishReply(o.req, res, reason); err != nil {
		u.log.Debug("attencent: reply not sent", "err", err)
	}
}

func (u *Uplink) reply(req *message.Message) {
	if err := u.bus.Reply(req, nil); err != nil {
		u.log.Debug("attencent: reply not sent", "err", err)
	}
}

func (u *Uplink) replyErr(req *message.Message, err error) {
	if err := u.bus.Reply(req, bus.ErrorReply(err)); err != nil {
		u.log.Debug("attencent: reply not sent", "err", err)
	}
}
