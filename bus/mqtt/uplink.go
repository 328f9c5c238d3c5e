package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/time/rate"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/outbox"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
)

// Uplink is the MQTT uplink. Create it with [New] and start it with Run.
type Uplink struct {
	cfg  Config
	link *core.Link
	bus  *bus.Bus
	log  *slog.Logger

	serving chan struct{}  // closed once the bus topics are subscribed
	wake    chan struct{}  // capacity 1: the queue may have grown
	room    chan struct{}  // capacity 1: payload memory was released
	reqs    sync.WaitGroup // request handlers waiting for the broker
	bg      sync.WaitGroup // session helpers that may outlive their session
	flight  atomic.Int64
	// directSeq names the publishes that arrive by a direct call.
	directSeq atomic.Uint64
	// counts are the publishes' final outcomes and the sessions, since New.
	counts counters

	pace    *rate.Limiter // nil when publishes are not paced
	toWrite chan *outMsg  // accepted messages for the outbox writer
	// acceptMu is held shared while accepting and exclusively to stop:
	// after stopped is set nothing is sent to toWrite any more.
	acceptMu sync.RWMutex
	stopped  bool
	orderMu  sync.Mutex    // one accept at a time queues and hands to the writer
	quit     chan struct{} // closed when Run stops accepting

	// sender is held by the session goroutine that hands messages to paho
	// (send), from before its first pop until it has put back what it
	// holds: the next session's sender starts only then. A sender caught
	// inside paho's Publish by the end of its connection holds a message
	// out of the queue for up to writeTimeout; were the next session to
	// send meanwhile, the messages behind that one would overtake it.
	sender chan struct{}
	// published, set by tests before Run, runs in send once paho's Publish
	// returned, before the message joins the window.
	published func(*outMsg)

	mu    sync.Mutex // guards the fields below and outMsg's fields
	queue []*outMsg  // waiting to be handed to paho, sorted by outMsg.order
	mem   usage      // messages held in memory until confirmed
	// nextOrder is the number the last message to join the queue got.
	nextOrder uint64
	// cached counts the payload bytes of stored messages also kept in
	// memory, at most QueueBytes/2.
	cached int64
	// writing counts the payload bytes waiting for the outbox writer;
	// wrote is closed (and replaced) whenever a batch was written.
	writing int64
	wrote   chan struct{}
	disk    usage // messages held in the outbox until confirmed
	// diskMaxMsgs and diskMaxBytes are the outbox's bounds (fixed at Open).
	diskMaxMsgs  int
	diskMaxBytes int64
	byID         map[string]*outMsg
	// recent keeps the outcome of the last finished messages, for a
	// withdrawal that crossed its message's reply.
	recent outcomes
	// careful is set when a session ended with messages unconfirmed: the
	// next one sends the oldest alone, so that the one that ends sessions
	// is the one blamed.
	careful    bool
	memDead    []DeadLetter
	memDeadSeq uint64
	parked     int
	subs       map[string]byte
	// pending holds filters whose SUBSCRIBE is on the wire, not yet
	// acknowledged: Status does not list them as subscriptions, so that
	// whoever waits for one there can rely on the broker having it.
	pending   map[string]bool
	sess      *session // nil while disconnected
	since     time.Time
	lastErr   string
	runCalled bool
}

// Status is a snapshot of the uplink, for `iotd status`.
type Status struct {
	// State is the link's latest state.
	State linkstate.State `json:"state"`
	// QueueDepth counts publishes waiting to be handed to the broker.
	QueueDepth int `json:"queue_depth"`
	// Memory is what messages held in memory use of their bounds (every
	// QoS 0 message, QoS 1 without an outbox), from acceptance to
	// confirmation.
	Memory Bound `json:"memory"`
	// Outbox is the durable outbox's use; nil without one.
	Outbox *Bound `json:"outbox,omitempty"`
	// DeadLetters counts parked messages (outbox and memory); Parked counts
	// the messages parked since start.
	DeadLetters int `json:"dead_letters"`
	Parked      int `json:"parked"`
	// Inflight counts publishes handed to the broker and not yet confirmed.
	Inflight int `json:"inflight"`
	// Subscriptions lists the filters kept across reconnects, sorted: while
	// connected, those the broker acknowledged; while disconnected, those
	// made again on the next connect.
	Subscriptions []string `json:"subscriptions"`
	// Pending lists filters whose subscription awaits the broker's answer.
	Pending []string `json:"pending_subscriptions,omitempty"`
	// ConnectedSince is when the current MQTT session started; zero when
	// disconnected.
	ConnectedSince time.Time `json:"connected_since,omitzero"`
	// LastError is why the last session ended or failed to start.
	LastError string `json:"last_error,omitempty"`
	// Sessions counts the MQTT sessions established since start: the
	// first connection and every reconnection.
	Sessions int64 `json:"sessions"`
	// Published counts the publishes by final outcome since start.
	Published Outcomes `json:"published"`
}

// Outcomes counts publishes by what finally became of them.
type Outcomes struct {
	// Acknowledged: the broker has it (QoS 1) or it was written (QoS 0).
	Acknowledged int64 `json:"acknowledged"`
	// Refused at acceptance (too large, queue full, a bad topic) or later
	// (parked as a dead letter).
	Refused int64 `json:"refused"`
	// NotSent: withdrawn by its publisher, dropped for newer messages, or
	// still queued when the uplink stopped.
	NotSent int64 `json:"not_sent"`
}

// counters are the uplink's event counts.
type counters struct {
	sessions, acknowledged, refused, notSent atomic.Int64
}

// count records a publish's final outcome (Stored is not one).
func (c *counters) count(res bus.Result) {
	switch res {
	case bus.Acknowledged:
		c.acknowledged.Add(1)
	case bus.Refused:
		c.refused.Add(1)
	case bus.NotSent:
		c.notSent.Add(1)
	}
}

// writeQueue is the capacity of the outbox writer's channel: a batch with
// an outbox, none without one (nothing is sent to it then; 16 KiB per
// uplink, a fleet of thousands of devices in one process felt it).
func writeQueue(cfg Config) int {
	if cfg.Outbox == nil {
		return 0
	}
	return maxBatch
}

// Bound is the use of a queue against its bounds.
type Bound struct {
	Messages    int   `json:"messages"`
	Bytes       int64 `json:"bytes"`
	MaxMessages int   `json:"max_messages"`
	MaxBytes    int64 `json:"max_bytes"`
}

// New checks cfg and returns an uplink that connects through link and
// serves b. log may be nil.
func New(cfg Config, link *core.Link, b *bus.Bus, log *slog.Logger) (*Uplink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if link == nil || b == nil {
		return nil, errors.New("uplink: New needs a link and a bus")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if box, ok := cfg.Outbox.(*outbox.Outbox); ok && box == nil {
		cfg.Outbox = nil // a nil *Outbox, as Config.Outbox was before it was a Store
	}
	if cfg.KeepAlive > MaxKeepAlive {
		log.Warn("uplink: keepalive lowered to the hub's limit", "configured", cfg.KeepAlive, "used", MaxKeepAlive)
	}
	u := &Uplink{
		cfg: cfg.withDefaults(), link: link, bus: b, log: log,
		serving: make(chan struct{}), wake: make(chan struct{}, 1), room: make(chan struct{}, 1), sender: make(chan struct{}, 1),
		toWrite: make(chan *outMsg, writeQueue(cfg)), quit: make(chan struct{}), wrote: make(chan struct{}),
		byID: make(map[string]*outMsg), recent: newOutcomes(),
		subs: make(map[string]byte), pending: make(map[string]bool),
	}
	if u.cfg.PublishRate > 0 {
		// Shared by every session: a reconnect does not refill the bucket
		// (the hub's does not either).
		u.pace = rate.NewLimiter(rate.Limit(u.cfg.PublishRate), u.cfg.PublishBurst)
	}
	if u.cfg.Outbox != nil {
		ou := u.cfg.Outbox.Usage()
		u.diskMaxMsgs, u.diskMaxBytes = ou.MaxMessages, ou.MaxBytes
	}
	u.restoreOutbox()
	return u, nil
}

// restoreOutbox queues what the outbox kept from an earlier run, oldest first,
// ahead of anything published from now on.
func (u *Uplink) restoreOutbox() {
	if u.cfg.Outbox == nil {
		return
	}
	for _, meta := range u.cfg.Outbox.Pending() {
		m := &outMsg{topic: meta.Topic, qos: meta.QoS, size: meta.Size, disk: true, seq: meta.Seq,
			attempts: meta.Attempts, state: queued}
		u.disk.add(m, +1)
		u.push(m)
	}
	if len(u.queue) > 0 {
		u.log.Info("uplink: messages from the outbox queued for sending", "count", len(u.queue), "bytes", u.disk.bytes)
	}
}

// Serving returns a channel that is closed once Run serves the bus topics;
// requests published before then are lost (nobody is subscribed yet).
func (u *Uplink) Serving() <-chan struct{} { return u.serving }

// Status returns a snapshot of the uplink's state.
func (u *Uplink) Status() Status {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := Status{
		State:         u.link.State(),
		QueueDepth:    len(u.queue),
		Memory:        Bound{Messages: u.mem.msgs, Bytes: u.mem.bytes, MaxMessages: u.cfg.QueueSize, MaxBytes: u.cfg.QueueBytes},
		DeadLetters:   len(u.memDead),
		Parked:        u.parked,
		Inflight:      int(u.flight.Load()),
		Subscriptions: make([]string, 0, len(u.subs)),
		LastError:     u.lastErr,
		Sessions:      u.counts.sessions.Load(),
		Published: Outcomes{Acknowledged: u.counts.acknowledged.Load(), Refused: u.counts.refused.Load(),
			NotSent: u.counts.notSent.Load()},
	}
	if u.sess != nil {
		s.ConnectedSince = u.since
	}
	for f := range u.subs {
		if u.pending[f] {
			s.Pending = append(s.Pending, f)
			continue
		}
		s.Subscriptions = append(s.Subscriptions, f)
	}
	slices.Sort(s.Subscriptions)
	slices.Sort(s.Pending)
	if u.cfg.Outbox != nil {
		ou := u.cfg.Outbox.Usage()
		s.Outbox = &Bound{Messages: u.disk.msgs, Bytes: u.disk.bytes, MaxMessages: ou.MaxMessages, MaxBytes: ou.MaxBytes}
		s.DeadLetters += ou.Dead
	}
	return s
}

// Run serves the bus protocol and keeps the MQTT session up through the link
// until ctx ends, then replies with an error to every publish still queued
// and returns nil. It may be called once.
func (u *Uplink) Run(ctx context.Context) error {
	u.mu.Lock()
	if u.runCalled {
		u.mu.Unlock()
		return errors.New("uplink: Run called twice")
	}
	u.runCalled = true
	u.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopServing, err := u.bus.Serve(ctx, map[string]func(*message.Message){
		bus.TopicUplinkPublish:     u.handlePublish,
		bus.TopicUplinkSubscribe:   func(m *message.Message) { u.handleSubscribe(ctx, m) },
		bus.TopicUplinkUnsubscribe: func(m *message.Message) { u.handleUnsubscribe(ctx, m) },
	})
	if err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	var writing sync.WaitGroup
	if u.cfg.Outbox != nil {
		writing.Go(u.writer)
	}
	undirect := u.bus.SetDirect(u)
	close(u.serving)

	err = u.link.Run(ctx, u.session)
	cancel()
	undirect()
	stopServing()
	u.stopAccepting()
	writing.Wait()
	u.reqs.Wait()
	u.bg.Wait()
	u.mu.Lock()
	queued := u.queue
	u.queue = nil
	u.mu.Unlock()
	for _, m := range queued {
		reason := errors.New("uplink: stopped before the message was sent")
		if m.disk {
			reason = errors.New("uplink: stopped before the message was sent; it stays in the outbox and is sent after a restart")
		}
		u.answer(m, bus.NotSent, reason)
	}
	return err
}

func (u *Uplink) handleSubscribe(ctx context.Context, req *message.Message) {
	filter := req.Metadata.Get(bus.MetaFilter)
	qos, err := parseQoS(req.Metadata.Get(bus.MetaQoS))
	if err == nil {
		err = validateFilter(filter)
	}
	if err != nil {
		u.replyErr(req, err)
		return
	}
	u.mu.Lock()
	u.subs[filter] = qos
	s := u.sess
	if s != nil {
		u.pending[filter] = true
	}
	u.mu.Unlock()
	if s == nil {
		u.reply(req) // recorded; made on the next connect
		return
	}
	u.reqs.Go(func() {
		refused, err := s.subscribe(ctx, map[string]byte{filter: qos})
		u.mu.Lock()
		delete(u.pending, filter)
		u.mu.Unlock()
		switch {
		case len(refused) > 0:
			u.mu.Lock()
			if u.subs[filter] == qos {
				delete(u.subs, filter)
			}
			u.mu.Unlock()
			u.replyErr(req, refusedError(filter))
		case err != nil:
			// The session ended first; the filter is kept and made on the
			// next connect, as for a subscription made while disconnected.
			u.log.Debug("uplink: subscribe interrupted; kept for the next connection", "filter", filter, "err", err)
			u.reply(req)
		default:
			u.reply(req)
		}
	})
}

func (u *Uplink) handleUnsubscribe(ctx context.Context, req *message.Message) {
	filter := req.Metadata.Get(bus.MetaFilter)
	if err := validateFilter(filter); err != nil {
		u.replyErr(req, err)
		return
	}
	if ctx.Err() != nil {
		// The uplink is stopping, and with it the features whose
		// subscriptions end now: a persistent session (clean_session
		// false) keeps them at the broker for the next run.
		u.reply(req)
		return
	}
	u.mu.Lock()
	_, had := u.subs[filter]
	delete(u.subs, filter)
	s := u.sess
	u.mu.Unlock()
	if s == nil || !had {
		u.reply(req)
		return
	}
	u.reqs.Go(func() {
		if err := s.unsubscribe(ctx, filter); err != nil {
			// Gone from u.subs, so it is not restored on reconnect, and
			// nothing more is delivered for it either way.
			u.log.Debug("uplink: unsubscribe not acknowledged", "filter", filter, "err", err)
		}
		u.reply(req)
	})
}

func refusedError(filter string) error {
	return fmt.Errorf("uplink: the broker refused the subscription to %q (SUBACK 0x80, QCLOUD_ERR_MQTT_SUB -108): the device may not subscribe to it; check the topic's permissions", filter)
}

// deliver hands an incoming message to the bus once for every stored filter
// it matches.
func (u *Uplink) deliver(topic string, qos byte, payload []byte) {
	u.mu.Lock()
	var filters []string
	for f := range u.subs {
		if match(f, topic) {
			filters = append(filters, f)
		}
	}
	u.mu.Unlock()
	if len(filters) == 0 {
		u.log.Debug("uplink: message matches no subscription", "topic", topic)
		return
	}
	for _, f := range filters {
		m := message.NewMessage(watermill.NewUUID(), payload)
		m.Metadata.Set(bus.MetaTopic, topic)
		m.Metadata.Set(bus.MetaQoS, fmt.Sprint(qos))
		m.Metadata.Set(bus.MetaFilter, f)
		// A subscriber's full queue is logged, and counted, by the bus.
		if err := u.bus.Publish(bus.Downlink(f), m); err != nil && !errors.Is(err, bus.ErrQueueFull) {
			u.log.Warn("uplink: downlink message not published on the bus", "topic", topic, "err", err)
		}
	}
}

func (u *Uplink) reply(req *message.Message) {
	if err := u.bus.Reply(req, nil); err != nil {
		u.log.Debug("uplink: reply not sent", "err", err)
	}
}

func (u *Uplink) replyErr(req *message.Message, err error) {
	if err := u.bus.Reply(req, bus.ErrorReply(err)); err != nil {
		u.log.Debug("uplink: reply not sent", "err", err)
	}
}
