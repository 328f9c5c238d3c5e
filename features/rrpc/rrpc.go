package rrpc

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

// ErrUnknownProcess is wrapped by [RRPC.Reply] errors for a process id with
// no request waiting: answered already, expired, or never received.
var ErrUnknownProcess = errors.New("rrpc: no pending request")

// ErrStopped is returned by [RRPC.Reply] after Run returned.
var ErrStopped = errors.New("rrpc: stopped")

// subscriberBuffer is how many requests a local subscriber may lag behind
// before further requests skip it.
const subscriberBuffer = 16

// Request is one RRPC request from the cloud.
type Request struct {
	// ProcessID identifies the request; pass it to [RRPC.Reply].
	ProcessID string    `json:"processId"`
	Topic     string    `json:"topic"`
	Payload   []byte    `json:"payload"`
	Received  time.Time `json:"received"`
	// Deadline is when the request is forgotten; a later reply is refused.
	Deadline time.Time `json:"deadline"`
}

// Stats are the feature's counters since New, for `iotd status`.
type Stats struct {
	// Requests were accepted and delivered to the hook and/or subscribers.
	Requests int64 `json:"requests"`
	// Replies were published to the cloud.
	Replies int64 `json:"replies"`
	// Timeouts are requests nobody answered within ReplyTimeout.
	Timeouts int64 `json:"timeouts"`
	// Malformed are requests whose topic had no usable process id.
	Malformed int64 `json:"malformed"`
	// HookFailures are hook runs that failed, timed out or wrote too much.
	HookFailures int64 `json:"hookFailures"`
	// Dropped are requests not delivered: no hook and no subscriber, a
	// process id already pending, or MaxPending reached. SubscriberDrops
	// count deliveries skipped because one subscriber lagged.
	Dropped         int64 `json:"dropped"`
	SubscriberDrops int64 `json:"subscriberDrops"`
	// ReplyErrors are replies that could not be published.
	ReplyErrors int64 `json:"replyErrors"`
	// Pending is the number of requests waiting for a reply now.
	Pending int `json:"pending"`
	// Subscribers is the number of local subscribers now.
	Subscribers int `json:"subscribers"`
}

type pending struct {
	timer *time.Timer
	local bool // delivered to at least one subscriber
}

// RRPC is the RRPC feature. Create it with [New]; call Run. Its methods are
// safe for concurrent use.
type RRPC struct {
	cfg    Config
	bus    *bus.Bus
	hook   *hook.Runner // nil without a hook command
	log    *slog.Logger
	pid    string
	dn     string
	filter string
	now    func() time.Time

	subs fanout.Set[Request] // safe on its own

	mu      sync.Mutex // guards pending and stopped
	pending map[string]*pending
	stopped bool

	wg sync.WaitGroup // hook runs

	requests, replies, timeouts, malformed       atomic.Int64
	hookFailures, dropped, subDrops, replyErrors atomic.Int64
}

// New prepares RRPC for device pid/dn. log may be nil. New does no I/O.
func New(cfg Config, b *bus.Bus, productID, deviceName string, log *slog.Logger) (*RRPC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if b == nil {
		return nil, errors.New("rrpc: bus is required")
	}
	if productID == "" || deviceName == "" {
		return nil, errors.New("rrpc: product id and device name are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("feature", "rrpc")
	r := &RRPC{cfg: cfg, bus: b, log: log, pid: productID, dn: deviceName,
		filter: RequestFilter(productID, deviceName), now: time.Now,
		pending: map[string]*pending{}}
	if cfg.Hook.Enabled() {
		h, err := hook.New(cfg.Hook, log)
		if err != nil {
			return nil, fmt.Errorf("rrpc: %w", err)
		}
		r.hook = h
	}
	return r, nil
}

// Run subscribes to the device's requests and serves them until ctx ends;
// it returns nil then. When it returns, pending requests are forgotten,
// subscriber channels are closed and hook runs have ended.
func (r *RRPC) Run(ctx context.Context) error {
	defer r.stop()
	if r.cfg.Disabled {
		<-ctx.Done()
		return nil
	}
	reqs, err := r.bus.CloudSubscribeWait(ctx, r.filter, 0)
	if err != nil {
		return nil // ctx ended
	}
	r.log.Info("serving RRPC requests", "filter", r.filter, "hook", r.hook != nil)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-reqs:
			if !ok {
				return nil
			}
			m.Ack()
			r.handle(ctx, m)
		}
	}
}

func (r *RRPC) handle(ctx context.Context, m *message.Message) {
	topic := m.Metadata.Get(bus.MetaTopic)
	id, err := ParseRequestTopic(topic, r.pid, r.dn)
	if err != nil {
		r.malformed.Add(1)
		r.log.Warn("RRPC request ignored", "topic", topic, "reason", err)
		return
	}
	now := r.now()
	req := Request{ProcessID: id, Topic: topic, Payload: append([]byte(nil), m.Payload...),
		Received: now, Deadline: now.Add(r.cfg.ReplyTimeout)}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if _, dup := r.pending[id]; dup {
		r.dropped.Add(1)
		r.log.Warn("RRPC request ignored", "process_id", id, "reason", "a request with this process id is still pending")
		return
	}
	if len(r.pending) >= r.cfg.MaxPending {
		r.dropped.Add(1)
		r.log.Warn("RRPC request dropped", "process_id", id,
			"reason", fmt.Sprintf("%d requests already wait for a reply (max_pending)", len(r.pending)))
		return
	}
	delivered, dropped := r.subs.Send(req)
	if dropped > 0 {
		r.subDrops.Add(int64(dropped))
		r.log.Warn("RRPC request skipped local subscribers", "process_id", id, "subscribers", dropped, "reason", "subscriber is not reading")
	}
	local := delivered > 0
	if !local && r.hook == nil {
		r.dropped.Add(1)
		r.log.Warn("RRPC request dropped", "process_id", id,
			"reason", "no handler: configure an rrpc hook command or connect a local API client")
		return
	}
	p := &pending{local: local}
	p.timer = time.AfterFunc(r.cfg.ReplyTimeout, func() { r.expire(id, p) })
	r.pending[id] = p
	r.requests.Add(1)
	r.log.Debug("RRPC request", "process_id", id, "bytes", len(req.Payload), "local", local)
	if r.hook != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.runHook(ctx, req, p)
		}()
	}
}

func (r *RRPC) expire(id string, p *pending) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[id] != p {
		return // answered or dropped meanwhile
	}
	delete(r.pending, id)
	r.timeouts.Add(1)
	r.log.Warn("RRPC request timed out", "process_id", id, "after", r.cfg.ReplyTimeout)
}

func (r *RRPC) runHook(ctx context.Context, req Request, p *pending) {
	hctx, cancel := context.WithDeadline(ctx, req.Deadline)
	defer cancel()
	res, err := r.hook.Run(hctx, req.Payload, map[string]string{
		"IOTD_FEATURE":     "rrpc",
		"IOTD_TOPIC":       req.Topic,
		"IOTD_PROCESS_ID":  req.ProcessID,
		"IOTD_PRODUCT_ID":  r.pid,
		"IOTD_DEVICE_NAME": r.dn,
		"IOTD_DEADLINE":    req.Deadline.UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down
		}
		r.hookFailures.Add(1)
		r.log.Warn("RRPC hook failed; no reply sent", "process_id", req.ProcessID, "err", err)
		r.mu.Lock()
		if r.pending[req.ProcessID] == p && !p.local {
			// Nobody else can answer: forget it now rather than at expiry.
			p.timer.Stop()
			delete(r.pending, req.ProcessID)
		}
		r.mu.Unlock()
		return
	}
	if err := r.Reply(ctx, req.ProcessID, res.Stdout); err != nil && !errors.Is(err, ErrUnknownProcess) && ctx.Err() == nil {
		r.log.Warn("RRPC hook reply not sent", "process_id", req.ProcessID, "err", err)
	}
}

// Reply publishes payload as the reply to request processID and returns once
// the uplink sent it (QoS 0) or ctx ended. Only the first reply to a request
// is accepted; a reply for a process id that is not pending (answered
// already, expired, never received) wraps [ErrUnknownProcess].
func (r *RRPC) Reply(ctx context.Context, processID string, payload []byte) error {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return ErrStopped
	}
	p, ok := r.pending[processID]
	if ok {
		p.timer.Stop()
		delete(r.pending, processID)
	}
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w with process id %q: it was answered already, expired after %s, or never arrived",
			ErrUnknownProcess, processID, r.cfg.ReplyTimeout)
	}
	if err := r.bus.CloudPublish(ctx, ReplyTopic(r.pid, r.dn, processID), payload, 0); err != nil {
		r.replyErrors.Add(1)
		return fmt.Errorf("rrpc: reply to %s: %w", processID, err)
	}
	r.replies.Add(1)
	r.log.Debug("RRPC reply sent", "process_id", processID, "bytes", len(payload))
	return nil
}

// Subscribe returns a channel that receives every request from now on,
// until ctx ends or Run returns; then it is closed. Answer with Reply. A
// subscriber that falls more than a few requests behind misses requests
// (counted in Stats.SubscriberDrops) rather than holding up the others.
func (r *RRPC) Subscribe(ctx context.Context) <-chan Request {
	return r.subs.Subscribe(ctx, subscriberBuffer)
}

// Stats returns the counters.
func (r *RRPC) Stats() Stats {
	r.mu.Lock()
	n := len(r.pending)
	r.mu.Unlock()
	return Stats{Subscribers: r.subs.Len(),
		Requests: r.requests.Load(), Replies: r.replies.Load(), Timeouts: r.timeouts.Load(),
		Malformed: r.malformed.Load(), HookFailures: r.hookFailures.Load(), Dropped: r.dropped.Load(),
		SubscriberDrops: r.subDrops.Load(), ReplyErrors: r.replyErrors.Load(), Pending: n,
	}
}

// stop forgets pending requests, closes subscribers and waits for hooks.
func (r *RRPC) stop() {
	r.mu.Lock()
	r.stopped = true
	for id, p := range r.pending {
		p.timer.Stop()
		delete(r.pending, id)
	}
	r.subs.Close()
	r.mu.Unlock()
	r.wg.Wait()
}
