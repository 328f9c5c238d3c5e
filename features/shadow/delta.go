package shadow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// DeltaHandler applies a new desired value of one property. It runs on the
// shadow's delta goroutine, one delta at a time in version order, so it
// may call the shadow's methods but should not block for long; ctx ends
// when Run returns. Returning an error (or panicking) keeps the value out
// of the automatic report, so the desired key stays set on the hub.
type DeltaHandler func(ctx context.Context, value json.RawMessage, version int64) error

// Delta is a desired-state change as delivered to watchers.
type Delta struct {
	// State holds the changed desired keys and their values.
	State map[string]json.RawMessage `json:"state"`
	// Version is the document version the delta belongs to.
	Version int64 `json:"version"`
	// Source is "push" (sent by the hub) or "get" (state.delta of a read,
	// e.g. after a reconnect).
	Source   string    `json:"source"`
	Received time.Time `json:"received"`

	watched int // local watchers it was handed to
}

// watchBuffer is each watcher's channel capacity; a watcher that falls
// further behind loses deltas (counted in Stats.WatchDropped).
const watchBuffer = 16

// Register sets the handler of property's deltas. Register before Run so
// that the first read's delta finds it.
func (s *Shadow) Register(property string, h DeltaHandler) error {
	if property == "" || h == nil {
		return errors.New("shadow: Register needs a property name and a handler")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.handlers[property]; ok {
		return fmt.Errorf("shadow: property %q already has a handler", property)
	}
	s.handlers[property] = h
	return nil
}

// Watch returns a channel of every delta applied from now on (whether or
// not its properties have handlers), closed when ctx ends.
func (s *Shadow) Watch(ctx context.Context) <-chan Delta {
	ch := make(chan Delta, watchBuffer)
	s.mu.Lock()
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		delete(s.watchers, ch)
		s.mu.Unlock()
		close(ch)
	})
	return ch
}

// enqueueLocked queues d for the handlers and hands it to the watchers.
func (s *Shadow) enqueueLocked(d Delta) {
	s.applied = max(s.applied, d.Version)
	for ch := range s.watchers {
		select {
		case ch <- d:
			d.watched++
		default:
			s.stats.WatchDropped++
		}
	}
	s.queue = append(s.queue, d)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// applier runs the handlers for queued deltas until ctx ends.
func (s *Shadow) applier(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			if len(s.queue) == 0 {
				s.mu.Unlock()
				break
			}
			d := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			s.apply(ctx, d)
		}
	}
}

// apply runs the handlers of one delta and, unless ManualDesired, reports
// the accepted values and clears their desired keys.
func (s *Shadow) apply(ctx context.Context, d Delta) {
	accepted := map[string]json.RawMessage{}
	keys := make([]string, 0, len(d.State))
	for k := range d.State {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s.mu.Lock()
		h := s.handlers[k]
		s.mu.Unlock()
		if h == nil {
			s.count(func(st *Stats) { st.Unregistered++ })
			if watched := d.watched; watched > 0 {
				// A local application watching deltas applies it and
				// reports; that is the daemon's usual way.
				s.log.Info("shadow: delta for a property with no handler, left to the watching applications",
					"property", k, "version", d.Version, "watchers", watched)
			} else {
				s.log.Warn("shadow: delta for an unregistered property ignored; register a handler for it or remove it from desired",
					"property", k, "version", d.Version)
			}
			continue
		}
		if err := call(ctx, h, d.State[k], d.Version); err != nil {
			s.count(func(st *Stats) { st.HandlerErrors++ })
			s.log.Warn("shadow: delta handler failed; desired value left in place", "property", k, "version", d.Version, "err", err)
			continue
		}
		accepted[k] = d.State[k]
	}
	s.count(func(st *Stats) { st.DeltasApplied++ })
	if s.cfg.ManualDesired || len(accepted) == 0 || ctx.Err() != nil {
		return
	}
	if err := s.settle(ctx, accepted); err != nil && ctx.Err() == nil {
		s.log.Warn("shadow: reporting applied desired values failed", "version", d.Version, "err", err)
	}
}

func call(ctx context.Context, h DeltaHandler, v json.RawMessage, version int64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, v, version)
}

// settle reports the applied values and clears their desired keys. On a
// version conflict it re-reads the document and retries once, clearing only
// the keys whose desired value is still the one applied: a newer value is
// already queued and gets its own turn.
func (s *Shadow) settle(ctx context.Context, applied map[string]json.RawMessage) error {
	reported := make(map[string]any, len(applied))
	clearKeys := make([]string, 0, len(applied))
	for k, v := range applied {
		reported[k] = v
		clearKeys = append(clearKeys, k)
	}
	slices.Sort(clearKeys)
	err := s.update(ctx, Update{Reported: reported, ClearDesiredKeys: clearKeys})
	if !errors.Is(err, ErrConflict) {
		return err
	}
	s.count(func(st *Stats) { st.Conflicts++ })
	if _, err := s.Get(ctx); err != nil {
		return fmt.Errorf("shadow: re-read after a version conflict: %w", err)
	}
	doc := s.Document()
	clearKeys = slices.DeleteFunc(clearKeys, func(k string) bool {
		want, ok := doc.Desired[k]
		return !ok || !sameJSON(want, applied[k])
	})
	return s.update(ctx, Update{Reported: reported, ClearDesiredKeys: clearKeys})
}
