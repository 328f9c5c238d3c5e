package coap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
)

// MetaNeedResponse is the bus metadata key with which a publish request may
// choose the need-response flag ("0" or "1"); without it the uplink uses
// Config.NeedResponse, or for OTA reports what the hub expects.
const MetaNeedResponse = "coap.need_response"

// Uplink is the CoAP uplink. Create it with [New] and start it with Run.
type Uplink struct {
	cfg   Config
	link  *core.Link
	bus   *bus.Bus
	log   *slog.Logger
	stats counters

	serving chan struct{} // closed once the bus topics are subscribed
	wake    chan struct{} // capacity 1: the queue may have grown

	mu        sync.Mutex // guards the fields below
	queue     []*outMsg
	subs      map[string]bool
	versions  map[string][]byte // OTA report topic → last report_version sent
	inflight  int
	up        bool
	since     time.Time
	authedAt  time.Time
	lastErr   string
	runCalled bool
}

type outMsg struct {
	req     *message.Message
	topic   string
	payload []byte
	needRsp bool
	resent  bool // already sent again after the session it timed out on ended
}

// Status is a snapshot of the uplink, for `iotd status`.
type Status struct {
	// State is the link's latest state.
	State linkstate.State `json:"state"`
	// QueueDepth counts publishes waiting to be sent.
	QueueDepth int `json:"queue_depth"`
	// Inflight is 1 while a publish waits for its answer, else 0.
	Inflight int `json:"inflight"`
	// Subscriptions lists the response-fed topics subscribed to, sorted.
	Subscriptions []string `json:"subscriptions"`
	// ConnectedSince is when the current session authenticated; zero when
	// disconnected.
	ConnectedSince time.Time `json:"connected_since,omitzero"`
	// TokenAge is the age of the auth token in use; zero when there is none.
	TokenAge time.Duration `json:"token_age_ns"`
	// Counters count what happened on the channel since start.
	Counters Counters `json:"counters"`
	// LastError is why the last session ended or failed to start.
	LastError string `json:"last_error,omitempty"`
}

// New checks cfg and returns an uplink that connects through link (a
// datagram link) and serves b. log may be nil.
func New(cfg Config, link *core.Link, b *bus.Bus, log *slog.Logger) (*Uplink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if link == nil || b == nil {
		return nil, errors.New("coap: New needs a link and a bus")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Uplink{
		cfg: cfg.withDefaults(), link: link, bus: b, log: log,
		serving: make(chan struct{}), wake: make(chan struct{}, 1),
		subs: make(map[string]bool), versions: make(map[string][]byte),
	}, nil
}

// Serving returns a channel that is closed once Run serves the bus topics.
func (u *Uplink) Serving() <-chan struct{} { return u.serving }

// Status returns a snapshot of the uplink's state.
func (u *Uplink) Status() Status {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := Status{
		State: u.link.State(), QueueDepth: len(u.queue), Inflight: u.inflight,
		Subscriptions: make([]string, 0, len(u.subs)), Counters: u.stats.snapshot(), LastError: u.lastErr,
	}
	if u.up {
		s.ConnectedSince = u.since
		s.TokenAge = time.Since(u.authedAt)
	}
	for f := range u.subs {
		s.Subscriptions = append(s.Subscriptions, f)
	}
	slices.Sort(s.Subscriptions)
	return s
}

// Run serves the bus protocol and keeps a CoAP session up through the link
// until ctx ends, then replies with an error to every publish still queued
// and returns nil. It may be called once.
func (u *Uplink) Run(ctx context.Context) error {
	u.mu.Lock()
	if u.runCalled {
		u.mu.Unlock()
		return errors.New("coap: Run called twice")
	}
	u.runCalled = true
	u.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopServing, err := u.bus.Serve(ctx, map[string]func(*message.Message){
		bus.TopicUplinkPublish:     u.handlePublish,
		bus.TopicUplinkSubscribe:   u.handleSubscribe,
		bus.TopicUplinkUnsubscribe: u.handleUnsubscribe,
	})
	if err != nil {
		return fmt.Errorf("coap: %w", err)
	}
	close(u.serving)

	err = u.link.Run(ctx, u.session)
	cancel()
	stopServing()
	u.mu.Lock()
	queued := u.queue
	u.queue = nil
	u.mu.Unlock()
	for _, m := range queued {
		u.replyErr(m.req, errors.New("coap: stopped before the message was sent"))
	}
	return err
}

func (u *Uplink) handlePublish(req *message.Message) {
	if id := req.Metadata.Get(bus.MetaWithdraw); id != "" {
		u.withdraw(req, id)
		return
	}
	topic := req.Metadata.Get(bus.MetaTopic)
	if err := validatePath(topic); err != nil {
		u.replyErr(req, err)
		return
	}
	needRsp, err := u.needResponse(topic, req)
	if err != nil {
		u.replyErr(req, err)
		return
	}
	m := &outMsg{req: req, topic: topic, payload: req.Payload, needRsp: needRsp}
	u.mu.Lock()
	if len(u.queue) >= u.cfg.QueueSize {
		u.mu.Unlock()
		u.replyErr(req, fmt.Errorf("coap: queue full (%d messages, coap.queue_size)", u.cfg.QueueSize))
		return
	}
	u.queue = append(u.queue, m)
	if req.Metadata.Get(bus.MetaWait) == "stored" {
		m.req = nil // answered now; nobody waits for the response
	}
	u.mu.Unlock()
	if m.req == nil {
		_ = u.bus.PublishReply(req, bus.Stored, nil)
	}
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// withdraw takes the message of request id out of the queue when its
// publisher gave up before it went out. One no longer queued is being sent
// or was: the CoAP channel keeps no record of which, so the answer is
// Stored, never a false "not sent".
func (u *Uplink) withdraw(req *message.Message, id string) {
	res := bus.Stored
	u.mu.Lock()
	for i, m := range u.queue {
		if m.req != nil && m.req.UUID == id {
			u.queue = append(u.queue[:i], u.queue[i+1:]...)
			res = bus.NotSent
			break
		}
	}
	u.mu.Unlock()
	_ = u.bus.PublishReply(req, res, nil)
}

// needResponse picks the need-response flag: the request's own choice,
// else what the hub expects of an OTA report, else the configured default.
func (u *Uplink) needResponse(topic string, req *message.Message) (bool, error) {
	switch v := req.Metadata.Get(MetaNeedResponse); v {
	case "0":
		return false, nil
	case "1":
		return true, nil
	case "":
	default:
		return false, fmt.Errorf("coap: metadata %s = %q: use \"0\" or \"1\"", MetaNeedResponse, v)
	}
	if strings.HasPrefix(topic, otaReportPrefix) {
		var r struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(req.Payload, &r)
		return r.Type == "report_version", nil
	}
	return u.cfg.NeedResponse, nil
}

func validatePath(topic string) error {
	switch {
	case topic == "":
		return errors.New("coap: publish: empty topic")
	case len(topic) > MaxPathLen:
		return fmt.Errorf("coap: publish: topic of %d bytes; the hub's limit is %d", len(topic), MaxPathLen)
	case strings.ContainsAny(topic, "+#"):
		return fmt.Errorf("coap: publish %q: wildcards are not allowed in a topic", topic)
	}
	return nil
}

// Response-fed topics: the answer to a publish on $ota/report/{pid}/{dn}
// is what MQTT would deliver on $ota/update/{pid}/{dn}.
const (
	otaReportPrefix = "$ota/report/"
	otaUpdatePrefix = "$ota/update/"
)

// fedBy returns the topic whose responses feed filter, or "" when none does.
func fedBy(filter string) string {
	if rest, ok := strings.CutPrefix(filter, otaUpdatePrefix); ok && rest != "" && !strings.ContainsAny(rest, "+#") {
		return otaReportPrefix + rest
	}
	return ""
}

func (u *Uplink) handleSubscribe(req *message.Message) {
	filter := req.Metadata.Get(bus.MetaFilter)
	if fedBy(filter) == "" {
		u.replyErr(req, fmt.Errorf("coap: subscribe %q: the CoAP channel has no downlink; only $ota/update/{productId}/{deviceName}, fed by the answers to OTA reports, can be subscribed; use channel: mqtt to receive other topics", filter))
		return
	}
	u.mu.Lock()
	u.subs[filter] = true
	u.mu.Unlock()
	u.reply(req, nil)
}

func (u *Uplink) handleUnsubscribe(req *message.Message) {
	u.mu.Lock()
	delete(u.subs, req.Metadata.Get(bus.MetaFilter))
	u.mu.Unlock()
	u.reply(req, nil)
}

// feed publishes the answer to a publish on topic as a downlink message of
// the response-fed subscription it feeds, if any.
func (u *Uplink) feed(topic string, payload []byte) {
	rest, ok := strings.CutPrefix(topic, otaReportPrefix)
	if !ok || len(payload) == 0 {
		return
	}
	filter := otaUpdatePrefix + rest
	u.mu.Lock()
	sub := u.subs[filter]
	u.mu.Unlock()
	if !sub {
		u.log.Debug("coap: response to an OTA report not delivered: nobody subscribed", "topic", filter)
		return
	}
	m := message.NewMessage(watermill.NewUUID(), payload)
	m.Metadata.Set(bus.MetaTopic, filter)
	m.Metadata.Set(bus.MetaQoS, "1")
	m.Metadata.Set(bus.MetaFilter, filter)
	// A subscriber's full queue is logged, and counted, by the bus.
	if err := u.bus.Publish(bus.Downlink(filter), m); err != nil && !errors.Is(err, bus.ErrQueueFull) {
		u.log.Warn("coap: response not published on the bus", "topic", filter, "err", err)
	}
}

func (u *Uplink) reply(req *message.Message, payload []byte) {
	if req == nil {
		return // an OTA poll of the uplink's own
	}
	var rep *message.Message
	if payload != nil {
		rep = message.NewMessage(watermill.NewUUID(), payload)
	}
	if err := u.bus.Reply(req, rep); err != nil {
		u.log.Debug("coap: reply not sent", "err", err)
	}
}

func (u *Uplink) replyErr(req *message.Message, err error) {
	if req == nil {
		u.log.Debug("coap: OTA version poll failed", "err", err)
		return
	}
	if err := u.bus.Reply(req, bus.ErrorReply(err)); err != nil {
		u.log.Debug("coap: reply not sent", "err", err)
	}
}

// pop removes the oldest queued message, waiting until stop closes.
func (u *Uplink) pop(stop, dead <-chan struct{}) *outMsg {
	for {
		u.mu.Lock()
		if len(u.queue) > 0 {
			m := u.queue[0]
			u.queue[0] = nil
			u.queue = u.queue[1:]
			u.inflight = 1
			u.mu.Unlock()
			return m
		}
		u.mu.Unlock()
		select {
		case <-u.wake:
		case <-stop:
			return nil
		case <-dead:
			return nil
		}
	}
}

// remember keeps a sent report_version, to be sent again by pollOTA.
func (u *Uplink) remember(m *outMsg) {
	if m.req == nil || !m.needRsp || !strings.HasPrefix(m.topic, otaReportPrefix) {
		return
	}
	var r struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(m.payload, &r) == nil && r.Type == "report_version" {
		u.mu.Lock()
		u.versions[m.topic] = m.payload
		u.mu.Unlock()
	}
}

// pollOTA queues the remembered report_version messages again, unless
// one is queued already.
func (u *Uplink) pollOTA() {
	u.mu.Lock()
	for topic, payload := range u.versions {
		queued := false
		for _, q := range u.queue {
			queued = queued || q.topic == topic
		}
		if !queued && len(u.queue) < u.cfg.QueueSize {
			u.queue = append(u.queue, &outMsg{topic: topic, payload: payload, needRsp: true})
		}
	}
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// requeue puts m back at the head of the queue.
func (u *Uplink) requeue(m *outMsg) {
	u.mu.Lock()
	u.queue = append([]*outMsg{m}, u.queue...)
	u.inflight = 0
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}
