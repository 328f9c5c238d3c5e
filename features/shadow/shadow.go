package shadow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core/linkstate"
)

// Document is the last known shadow document.
type Document struct {
	Reported map[string]json.RawMessage `json:"reported"`
	Desired  map[string]json.RawMessage `json:"desired,omitempty"`
	// Delta is what the hub would report as state.delta: the desired keys
	// whose value differs from the reported one.
	Delta map[string]json.RawMessage `json:"delta,omitempty"`
	// Version is the hub's document version (0 before the first get).
	Version int64 `json:"version"`
	// Metadata is the hub's per-key metadata from the last get, verbatim.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// Timestamp is the hub's last change, ms since the epoch.
	Timestamp int64 `json:"timestamp,omitempty"`
	// UpdatedAt is when this copy last changed locally; zero before the
	// first result.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

func (d Document) clone() Document {
	d.Reported = maps.Clone(d.Reported)
	d.Desired = maps.Clone(d.Desired)
	d.Delta = maps.Clone(d.Delta)
	return d
}

// Shadow is the device shadow feature. Create it with [New] and call Run;
// the other methods are safe for concurrent use and need Run to be running
// to reach the hub.
type Shadow struct {
	cfg      Config
	bus      *bus.Bus
	log      *slog.Logger
	pid      string
	reqTopic string
	resTopic string

	counter atomic.Uint64
	ready   chan struct{} // closed once the result topic is subscribed
	refresh chan struct{} // capacity 1: re-get the document
	wake    chan struct{} // capacity 1: deltas queued
	wg      sync.WaitGroup

	mu       sync.Mutex // guards everything below
	runCtx   context.Context
	pending  map[string]*pending
	doc      Document
	applied  int64 // highest version whose delta was handed to the handlers
	handlers map[string]DeltaHandler
	watchers map[chan Delta]struct{}
	queue    []Delta
	stats    Stats
}

// New prepares the shadow of device productID/deviceName; log may be nil.
// New does no I/O.
func New(cfg Config, b *bus.Bus, productID, deviceName string, log *slog.Logger) (*Shadow, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if b == nil {
		return nil, errors.New("shadow: a bus is required")
	}
	if productID == "" || deviceName == "" {
		return nil, errors.New("shadow: product id and device name are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Shadow{
		cfg: cfg, bus: b, log: log.With("feature", "shadow"), pid: productID,
		reqTopic: fmt.Sprintf("$shadow/operation/%s/%s", productID, deviceName),
		resTopic: fmt.Sprintf("$shadow/operation/result/%s/%s", productID, deviceName),
		ready:    make(chan struct{}),
		refresh:  make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
		pending:  map[string]*pending{},
		handlers: map[string]DeltaHandler{},
		watchers: map[chan Delta]struct{}{},
	}, nil
}

// Run subscribes to the result topic, reads the document at start and
// after every reconnect, and dispatches results and deltas until ctx ends.
// It returns nil when ctx ends, after every goroutine it started stopped.
// Call it once.
func (s *Shadow) Run(ctx context.Context) error {
	if s.cfg.Disabled {
		<-ctx.Done()
		return nil
	}
	s.mu.Lock()
	if s.runCtx != nil {
		s.mu.Unlock()
		return errors.New("shadow: Run called twice")
	}
	s.runCtx = ctx
	s.mu.Unlock()
	defer s.wg.Wait()

	states, err := s.bus.Subscribe(ctx, bus.TopicLinkState)
	if err != nil {
		return fmt.Errorf("shadow: %w", err)
	}
	results, err := s.bus.CloudSubscribeWait(ctx, s.resTopic, 0)
	if err != nil {
		return nil // ctx ended
	}
	close(s.ready)
	s.wg.Go(func() { s.refresher(ctx) })
	s.wg.Go(func() { s.applier(ctx) })
	s.requestRefresh()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-states:
			if !ok {
				return nil
			}
			m.Ack()
			if st, err := bus.DecodeLinkState(m); err == nil && st.State == linkstate.Connected {
				s.requestRefresh()
			}
		case m, ok := <-results:
			if !ok {
				return nil
			}
			m.Ack()
			s.receive(m.Payload)
		}
	}
}

func (s *Shadow) requestRefresh() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// refresher re-reads the document when asked, retrying a failed read with
// a growing pause (the result subscription may be restored just after the
// "connected" event) until it succeeds or another request comes.
func (s *Shadow) refresher(ctx context.Context) {
	var retry <-chan time.Time
	pause := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.refresh:
			pause = time.Second
		case <-retry:
		}
		retry = nil
		if _, err := s.Get(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("shadow: reading the document failed; retrying", "err", err, "retry_in", pause)
			retry = time.After(pause)
			pause = min(2*pause, 30*time.Second)
		}
	}
}

// receive handles one message from the result topic.
func (s *Shadow) receive(b []byte) {
	in, err := parseResult(b)
	if err != nil {
		s.mu.Lock()
		switch {
		case errors.Is(err, ErrTooLarge):
			s.stats.TooLarge++
		case errors.Is(err, ErrUnknownType):
			s.stats.UnknownType++
		default:
			s.stats.Malformed++
		}
		s.mu.Unlock()
		s.log.Warn("shadow: message dropped", "topic", s.resTopic, "reason", err)
		return
	}
	if in.Type == "delta" {
		s.pushDelta(in)
		return
	}
	s.mu.Lock()
	p := s.pending[in.ClientToken]
	if p == nil || p.typ != in.Type {
		s.stats.Orphaned++
		s.mu.Unlock()
		s.log.Debug("shadow: result for no waiting request (late or not ours)", "type", in.Type, "clientToken", in.ClientToken)
		return
	}
	delete(s.pending, in.ClientToken)
	if in.Result == 0 {
		switch in.Type {
		case "get":
			s.applyGetLocked(in)
		case "update":
			if p.overwrite {
				s.doc.Reported = nil
			}
			s.applyUpdateLocked(in)
		case "delete":
			s.doc = Document{Version: max(s.doc.Version, in.Version), UpdatedAt: time.Now()}
		}
	}
	s.mu.Unlock()
	p.done <- in // capacity 1, sent once
}

// applyGetLocked replaces the cached document with a get result unless a
// newer version is known, and queues its delta.
func (s *Shadow) applyGetLocked(in inbound) {
	if in.Version < s.doc.Version {
		s.log.Debug("shadow: get result older than the local document; cache kept", "version", in.Version, "local", s.doc.Version)
		return
	}
	s.doc = Document{Reported: in.Reported, Desired: in.Desired, Version: in.Version,
		Metadata: in.Metadata, Timestamp: in.Timestamp, UpdatedAt: time.Now()}
	s.doc.Delta = delta(s.doc.Reported, s.doc.Desired)
	if len(in.Delta) > 0 && in.Version > s.applied {
		s.enqueueLocked(Delta{State: in.Delta, Version: in.Version, Source: "get", Received: time.Now()})
	}
}

// applyUpdateLocked merges an accepted update's payload into the cache.
func (s *Shadow) applyUpdateLocked(in inbound) {
	if in.HasReported {
		s.doc.Reported = merge(s.doc.Reported, in.Reported)
	}
	if in.DesiredNull {
		s.doc.Desired = nil
	} else if in.HasDesired {
		s.doc.Desired = merge(s.doc.Desired, in.Desired)
	}
	if in.Version > s.doc.Version {
		s.doc.Version = in.Version
	}
	if in.Timestamp > 0 {
		s.doc.Timestamp = in.Timestamp
	}
	s.doc.Delta = delta(s.doc.Reported, s.doc.Desired)
	s.doc.UpdatedAt = time.Now()
}

// pushDelta applies a delta pushed by the hub unless it is stale.
func (s *Shadow) pushDelta(in inbound) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.Version <= s.doc.Version {
		s.stats.Stale++
		s.log.Debug("shadow: stale delta dropped", "version", in.Version, "local", s.doc.Version)
		return
	}
	s.doc.Desired = merge(s.doc.Desired, in.Delta)
	s.doc.Version = in.Version
	s.doc.Delta = delta(s.doc.Reported, s.doc.Desired)
	s.doc.UpdatedAt = time.Now()
	s.enqueueLocked(Delta{State: in.Delta, Version: in.Version, Source: "push", Received: time.Now()})
}

// merge sets src's keys in dst (a copy); a null value removes the key.
func merge(dst, src map[string]json.RawMessage) map[string]json.RawMessage {
	out := maps.Clone(dst)
	for k, v := range src {
		if isNull(v) {
			delete(out, k)
			continue
		}
		if out == nil {
			out = map[string]json.RawMessage{}
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// delta returns the desired keys whose value differs from the reported one.
func delta(reported, desired map[string]json.RawMessage) map[string]json.RawMessage {
	var out map[string]json.RawMessage
	for k, want := range desired {
		if have, ok := reported[k]; ok && sameJSON(have, want) {
			continue
		}
		if out == nil {
			out = map[string]json.RawMessage{}
		}
		out[k] = want
	}
	return out
}

func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return string(a) == string(b)
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return string(ca) == string(cb)
}

// Document returns the last known document (a copy) without a round trip.
func (s *Shadow) Document() Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doc.clone()
}
