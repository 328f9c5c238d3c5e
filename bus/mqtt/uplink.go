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

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
)

// Uplink is the MQTT uplink. Create it with [New] and start it with Run.
type Uplink struct {
	cfg  Config
	link *core.Link
	bus  *bus.Bus
	log  *slog.Logger

	serving chan struct{}  // closed once the bus topics are subscribed
	wake    chan struct{}  // capacity 1: the queue may have grown
	reqs    sync.WaitGroup // request handlers waiting for the broker
	bg      sync.WaitGroup // session helpers that may outlive their session
	flight  atomic.Int64

	mu    sync.Mutex // guards the fields below
	queue []*outMsg  // waiting to be handed to paho, oldest first
	subs  map[string]byte
	// pending holds filters whose SUBSCRIBE is on the wire, not yet
	// acknowledged: Status does not list them as subscriptions, so that
	// whoever waits for one there can rely on the broker having it.
	pending   map[string]bool
	sess      *session // nil while disconnected
	since     time.Time
	lastErr   string
	runCalled bool
}

// outMsg is one publish request.
type outMsg struct {
	req     *message.Message // the bus request, to reply to
	topic   string
	qos     byte
	payload []byte
}

// Status is a snapshot of the uplink, for `iotd status`.
type Status struct {
	// State is the link's latest state.
	State bus.LinkState `json:"state"`
	// QueueDepth counts publishes waiting to be handed to the broker.
	QueueDepth int `json:"queue_depth"`
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
	if cfg.KeepAlive > MaxKeepAlive {
		log.Warn("uplink: keepalive lowered to the hub's limit", "configured", cfg.KeepAlive, "used", MaxKeepAlive)
	}
	return &Uplink{
		cfg: cfg.withDefaults(), link: link, bus: b, log: log,
		serving: make(chan struct{}), wake: make(chan struct{}, 1),
		subs: make(map[string]byte), pending: make(map[string]bool),
	}, nil
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
		Inflight:      int(u.flight.Load()),
		Subscriptions: make([]string, 0, len(u.subs)),
		LastError:     u.lastErr,
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
		bus.TopicUplinkPublish:     func(m *message.Message) { u.handlePublish(ctx, m) },
		bus.TopicUplinkSubscribe:   func(m *message.Message) { u.handleSubscribe(ctx, m) },
		bus.TopicUplinkUnsubscribe: func(m *message.Message) { u.handleUnsubscribe(ctx, m) },
	})
	if err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	close(u.serving)

	err = u.link.Run(ctx, u.session)
	cancel()
	stopServing()
	u.reqs.Wait()
	u.bg.Wait()
	u.mu.Lock()
	queued := u.queue
	u.queue = nil
	u.mu.Unlock()
	for _, m := range queued {
		u.replyErr(m.req, errors.New("uplink: stopped before the message was sent"))
	}
	return err
}

func (u *Uplink) handlePublish(_ context.Context, req *message.Message) {
	topic := req.Metadata.Get(bus.MetaTopic)
	qos, err := parseQoS(req.Metadata.Get(bus.MetaQoS))
	if err == nil {
		err = validateTopic(topic)
	}
	if err != nil {
		u.replyErr(req, err)
		return
	}
	m := &outMsg{req: req, topic: topic, qos: qos, payload: req.Payload}
	u.mu.Lock()
	if len(u.queue) >= u.cfg.QueueSize {
		u.mu.Unlock()
		u.replyErr(req, fmt.Errorf("uplink: offline queue full (%d messages)", u.cfg.QueueSize))
		return
	}
	u.queue = append(u.queue, m)
	u.mu.Unlock()
	u.signal()
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
		if err := u.bus.Publish(bus.Downlink(f), m); err != nil {
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

func (u *Uplink) signal() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// pop removes the oldest queued message, waiting for one until stop closes.
func (u *Uplink) pop(stop <-chan struct{}) *outMsg {
	for {
		u.mu.Lock()
		if len(u.queue) > 0 {
			m := u.queue[0]
			u.queue[0] = nil
			u.queue = u.queue[1:]
			u.mu.Unlock()
			return m
		}
		u.mu.Unlock()
		select {
		case <-u.wake:
		case <-stop:
			return nil
		}
	}
}

// requeue puts ms back at the head of the queue, in order. They may push the
// queue past QueueSize for a while: they were accepted already, and
// dropping them would lose messages.
func (u *Uplink) requeue(ms []*outMsg) {
	if len(ms) == 0 {
		return
	}
	u.mu.Lock()
	u.queue = append(slices.Clone(ms), u.queue...)
	u.mu.Unlock()
	u.signal()
}
