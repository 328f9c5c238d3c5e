package shadow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ResultConflict is the hub's result code for a version mismatch.
const ResultConflict = 5005

// Errors of requests; test with errors.Is.
var (
	// ErrTimeout: no result within Config.Timeout. The error names the
	// request's type and clientToken.
	ErrTimeout = errors.New("shadow: request timed out")
	// ErrBusy: MaxPending requests are already waiting for a result.
	ErrBusy = errors.New("shadow: too many outstanding requests")
	// ErrRejected: the hub answered with a non-zero result (see
	// *ResultError for the code).
	ErrRejected = errors.New("shadow: request rejected")
	// ErrConflict: the hub answered 5005 (version conflict) again after
	// the document was re-read.
	ErrConflict = errors.New("shadow: version conflict")
	// ErrNotRunning: Run has not subscribed to the result topic in time.
	ErrNotRunning = errors.New("shadow: not running")
)

// ResultError is a non-zero result from the hub.
type ResultError struct {
	Type, ClientToken string
	Code              int
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("shadow: %s request %s rejected by the hub with result %d", e.Type, e.ClientToken, e.Code)
}

// Is makes errors.Is match ErrRejected, and ErrConflict for 5005.
func (e *ResultError) Is(target error) bool {
	return target == ErrRejected || (target == ErrConflict && e.Code == ResultConflict)
}

// Update is one update request.
type Update struct {
	// Reported values are merged into the reported state (a nil value
	// removes the key), or replace it with Overwrite. Values are encoded
	// with encoding/json; json.RawMessage is sent as is.
	Reported map[string]any
	// Overwrite replaces the reported state instead of merging
	// ("overwriteUpdate": true).
	Overwrite bool
	// ClearDesired sends "desired": null, removing all desired state.
	ClearDesired bool
	// ClearDesiredKeys removes only these desired keys ("desired":{"k":null}).
	ClearDesiredKeys []string
}

func (u Update) touchesDesired() bool { return u.ClearDesired || len(u.ClearDesiredKeys) > 0 }

// pending is a request waiting for its result.
type pending struct {
	typ       string
	overwrite bool         // an overwrite update: the result replaces reported
	done      chan inbound // capacity 1
}

// Get reads the document from the hub, refreshes the local copy and feeds
// any state.delta to the handlers.
func (s *Shadow) Get(ctx context.Context) (Document, error) {
	if _, err := s.roundTrip(ctx, "get", map[string]any{}); err != nil {
		return Document{}, err
	}
	return s.Document(), nil
}

// Report merges reported values (no version check).
func (s *Shadow) Report(ctx context.Context, reported map[string]any) (Document, error) {
	return s.Update(ctx, Update{Reported: reported})
}

// ReportAndClearDesired reports values and removes all desired state.
func (s *Shadow) ReportAndClearDesired(ctx context.Context, reported map[string]any) (Document, error) {
	return s.Update(ctx, Update{Reported: reported, ClearDesired: true})
}

// ClearDesired removes all desired state.
func (s *Shadow) ClearDesired(ctx context.Context) (Document, error) {
	return s.Update(ctx, Update{ClearDesired: true})
}

// Update sends u and returns the local document after the hub accepted
// it. An update that touches desired state carries the local version; on a
// 5005 conflict the document is re-read and the update retried once.
func (s *Shadow) Update(ctx context.Context, u Update) (Document, error) {
	if len(u.Reported) == 0 && !u.touchesDesired() {
		return Document{}, errors.New("shadow: empty update: give reported values or clear desired state")
	}
	err := s.update(ctx, u)
	if errors.Is(err, ErrConflict) {
		s.count(func(st *Stats) { st.Conflicts++ })
		s.log.Info("shadow: version conflict; re-reading the document and retrying once", "err", err)
		if _, gerr := s.Get(ctx); gerr != nil {
			return Document{}, fmt.Errorf("shadow: re-read after a version conflict: %w", gerr)
		}
		err = s.update(ctx, u)
	}
	if err != nil {
		return Document{}, err
	}
	return s.Document(), nil
}

func (s *Shadow) update(ctx context.Context, u Update) error {
	state := map[string]any{}
	if len(u.Reported) > 0 {
		state["reported"] = u.Reported
	}
	switch {
	case u.ClearDesired:
		state["desired"] = nil
	case len(u.ClearDesiredKeys) > 0:
		d := map[string]any{}
		for _, k := range u.ClearDesiredKeys {
			d[k] = nil
		}
		state["desired"] = d
	}
	body := map[string]any{"state": state}
	if u.Overwrite {
		body["overwriteUpdate"] = true
	}
	if u.touchesDesired() {
		s.mu.Lock()
		body["version"] = s.doc.Version
		s.mu.Unlock()
	}
	_, err := s.roundTrip(ctx, "update", body)
	return err
}

// GetAsync runs Get in the background and calls done with its outcome.
// done runs on a goroutine that Run waits for; it gets ErrNotRunning when
// Run is not running.
func (s *Shadow) GetAsync(done func(Document, error)) {
	s.async(func(ctx context.Context) (Document, error) { return s.Get(ctx) }, done)
}

// UpdateAsync runs Update in the background and calls done with its
// outcome, as GetAsync.
func (s *Shadow) UpdateAsync(u Update, done func(Document, error)) {
	s.async(func(ctx context.Context) (Document, error) { return s.Update(ctx, u) }, done)
}

func (s *Shadow) async(f func(context.Context) (Document, error), done func(Document, error)) {
	s.mu.Lock()
	ctx := s.runCtx
	s.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		done(Document{}, ErrNotRunning)
		return
	}
	s.wg.Go(func() { done(f(ctx)) })
}

// roundTrip sends one request and waits for its result.
func (s *Shadow) roundTrip(ctx context.Context, typ string, body map[string]any) (inbound, error) {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return inbound{}, ctx.Err()
	default:
		if s.cfg.Disabled {
			return inbound{}, fmt.Errorf("%w: the shadow feature is disabled in the configuration", ErrNotRunning)
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return inbound{}, ctx.Err()
		case <-time.After(s.cfg.Timeout):
			return inbound{}, fmt.Errorf("%w: not subscribed to %s within %s (is the uplink running?)", ErrNotRunning, s.resTopic, s.cfg.Timeout)
		}
	}
	token := s.pid + "-" + strconv.FormatUint(s.counter.Add(1)-1, 10)
	body["type"] = typ
	body["clientToken"] = token
	payload, err := json.Marshal(body)
	if err != nil {
		return inbound{}, fmt.Errorf("shadow: encode %s request: %w", typ, err)
	}
	if len(payload) > MaxDocumentBytes {
		return inbound{}, fmt.Errorf("%w: %s request is %d bytes, the hub's limit is %d; report fewer or smaller values",
			ErrTooLarge, typ, len(payload), MaxDocumentBytes)
	}
	_, overwrite := body["overwriteUpdate"]
	p := &pending{typ: typ, overwrite: overwrite, done: make(chan inbound, 1)}
	s.mu.Lock()
	if len(s.pending) >= s.cfg.MaxPending {
		s.stats.Busy++
		s.mu.Unlock()
		return inbound{}, fmt.Errorf("%w: %d requests are waiting for a result, the limit is %d (shadow max_pending); retry when one completes",
			ErrBusy, s.cfg.MaxPending, s.cfg.MaxPending)
	}
	s.pending[token] = p
	s.stats.Requests++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, token)
		s.mu.Unlock()
	}()

	tctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.bus.CloudPublish(tctx, s.reqTopic, payload, 0); err != nil {
		if ctx.Err() == nil && tctx.Err() != nil {
			s.count(func(st *Stats) { st.Timeouts++ })
			return inbound{}, fmt.Errorf("%w: %s request %s was not sent within %s: %w", ErrTimeout, typ, token, s.cfg.Timeout, err)
		}
		return inbound{}, fmt.Errorf("shadow: %s request %s: %w", typ, token, err)
	}
	select {
	case in := <-p.done:
		if in.Result != 0 {
			s.count(func(st *Stats) { st.Rejected++ })
			return in, &ResultError{Type: typ, ClientToken: token, Code: in.Result}
		}
		return in, nil
	case <-tctx.Done():
		if ctx.Err() != nil {
			return inbound{}, fmt.Errorf("shadow: %s request %s: %w", typ, token, context.Cause(ctx))
		}
		s.count(func(st *Stats) { st.Timeouts++ })
		return inbound{}, fmt.Errorf("%w: %s request %s got no result on %s within %s",
			ErrTimeout, typ, token, s.resTopic, s.cfg.Timeout)
	}
}
