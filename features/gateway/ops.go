package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"time"
)

// Errors of operations; test with errors.Is.
var (
	// ErrTimeout: no result for a sub-device within Config.Timeout.
	ErrTimeout = errors.New("gateway: operation timed out")
	// ErrRejected: the hub answered with a non-zero result (see
	// *ResultError for the code).
	ErrRejected = errors.New("gateway: operation refused by the hub")
	// ErrNoCredentials: bind of a sub-device whose secret or certificate
	// file is not configured.
	ErrNoCredentials = errors.New("gateway: no credentials to bind the sub-device")
	// ErrNotRunning: Run has not subscribed to the result topic in time.
	ErrNotRunning = errors.New("gateway: not running")
)

// ResultError is a non-zero result from the hub for one sub-device.
type ResultError struct {
	Op   string
	Ref  Ref
	Code int
}

func (e *ResultError) Error() string {
	return fmt.Sprintf("gateway: %s %s refused by the hub with result %d", e.Op, e.Ref, e.Code)
}

// Is makes errors.Is match ErrRejected.
func (e *ResultError) Is(target error) bool { return target == ErrRejected }

// Result is the outcome of an operation for one sub-device.
type Result struct {
	Ref
	// Code is the hub's result (0 success); -1 when none arrived.
	Code int `json:"result"`
	// Err is nil on success; a *ResultError for a non-zero result, or an
	// error wrapping ErrTimeout or ErrNoCredentials.
	Err error `json:"-"`
	// Error is Err's text, for JSON.
	Error string `json:"error,omitempty"`
}

// Results are per-sub-device outcomes, in request order.
type Results []Result

// Err joins the failures, or is nil when every sub-device succeeded.
func (rs Results) Err() error {
	var errs []error
	for _, r := range rs {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}

// Online brings sub-devices online; with none, every known sub-device.
// The returned error is for the request as a whole (not running, not
// sent); per-device outcomes are in Results.
func (g *Gateway) Online(ctx context.Context, subs ...Ref) (Results, error) {
	return g.op(ctx, OpOnline, g.orAll(subs, false))
}

// Offline takes sub-devices offline; with none, every known sub-device.
func (g *Gateway) Offline(ctx context.Context, subs ...Ref) (Results, error) {
	return g.op(ctx, OpOffline, g.orAll(subs, false))
}

// Bind binds sub-devices to this gateway, signing with their secret or
// certificate; with none, every known sub-device that has credentials.
func (g *Gateway) Bind(ctx context.Context, subs ...Ref) (Results, error) {
	return g.op(ctx, OpBind, g.orAll(subs, true))
}

// Unbind unbinds sub-devices from this gateway; at least one must be named.
func (g *Gateway) Unbind(ctx context.Context, subs ...Ref) (Results, error) {
	if len(subs) == 0 {
		return nil, errors.New("gateway: unbind: name the sub-devices to unbind")
	}
	return g.op(ctx, OpUnbind, subs)
}

// Describe asks the hub which sub-devices are bound to this gateway.
func (g *Gateway) Describe(ctx context.Context) ([]Ref, error) {
	if err := g.waitReady(ctx); err != nil {
		return nil, err
	}
	payload, err := encodeRequest(OpDescribe, nil)
	if err != nil {
		return nil, err
	}
	ch := make(chan []Ref, 1)
	g.mu.Lock()
	g.describes = append(g.describes, ch)
	g.stats.Requests++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		if i := slices.Index(g.describes, ch); i >= 0 {
			g.describes = slices.Delete(g.describes, i, i+1)
		}
		g.mu.Unlock()
	}()
	tctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	if err := g.bus.CloudPublish(tctx, g.reqTopic, payload, 0); err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", OpDescribe, err)
	}
	select {
	case refs := <-ch:
		return refs, nil
	case <-tctx.Done():
		if ctx.Err() != nil {
			return nil, fmt.Errorf("gateway: %s: %w", OpDescribe, context.Cause(ctx))
		}
		g.count(func(s *Stats) { s.Timeouts++ })
		return nil, fmt.Errorf("%w: %s got no result on %s within %s", ErrTimeout, OpDescribe, g.resTopic, g.cfg.Timeout)
	}
}

func (g *Gateway) orAll(subs []Ref, needCreds bool) []Ref {
	if len(subs) > 0 {
		return subs
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Ref
	for r, s := range g.subs {
		if !needCreds || s.cfg.DeviceSecret != "" || s.cfg.CertFile != "" {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Ref) int { return compareRef(a, b) })
	return out
}

func compareRef(a, b Ref) int {
	if a.ProductID != b.ProductID {
		if a.ProductID < b.ProductID {
			return -1
		}
		return 1
	}
	switch {
	case a.DeviceName < b.DeviceName:
		return -1
	case a.DeviceName > b.DeviceName:
		return 1
	}
	return 0
}

func (g *Gateway) waitReady(ctx context.Context) error {
	select {
	case <-g.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	default:
	}
	if g.cfg.Disabled {
		return fmt.Errorf("%w: the gateway feature is disabled in the configuration", ErrNotRunning)
	}
	select {
	case <-g.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(g.cfg.Timeout):
		return fmt.Errorf("%w: not subscribed to %s within %s (is the uplink running?)", ErrNotRunning, g.resTopic, g.cfg.Timeout)
	}
}

// slot is one sub-device of an operation waiting for its result; i is
// its index in the request.
type slot struct {
	i  int
	ch chan deviceResult
}

// op sends one request for refs and waits for each sub-device's result.
func (g *Gateway) op(ctx context.Context, typ string, refs []Ref) (Results, error) {
	if len(refs) == 0 {
		return Results{}, nil
	}
	for _, r := range refs {
		if err := r.Validate(); err != nil {
			return nil, err
		}
	}
	if err := g.waitReady(ctx); err != nil {
		return nil, err
	}
	out := make(Results, len(refs))
	var entries []any
	var slots []slot
	seen := map[Ref]bool{}
	for i, r := range refs {
		out[i] = Result{Ref: r, Code: -1}
		if seen[r] {
			out[i].Err = fmt.Errorf("gateway: %s %s: named twice in one request", typ, r)
			continue
		}
		seen[r] = true
		entry, err := g.entry(typ, r)
		if err != nil {
			out[i].Err = err
			continue
		}
		entries = append(entries, entry)
		slots = append(slots, slot{i: i, ch: make(chan deviceResult, 1)})
	}
	if len(entries) == 0 {
		return out.withText(), nil
	}
	payload, err := encodeRequest(typ, entries)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	for _, s := range slots {
		k := waitKey{typ: typ, ref: refs[s.i]}
		g.waiters[k] = append(g.waiters[k], s.ch)
		if g.subs[refs[s.i]] == nil {
			g.subs[refs[s.i]] = &sub{cfg: SubDeviceConfig{ProductID: refs[s.i].ProductID, DeviceName: refs[s.i].DeviceName}}
		}
	}
	g.stats.Requests++
	g.mu.Unlock()
	defer g.forget(typ, refs, slots)

	tctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	if err := g.bus.CloudPublish(tctx, g.reqTopic, payload, 0); err != nil {
		if ctx.Err() == nil && tctx.Err() != nil {
			g.count(func(s *Stats) { s.Timeouts++ })
			return nil, fmt.Errorf("%w: %s request was not sent within %s: %w", ErrTimeout, typ, g.cfg.Timeout, err)
		}
		return nil, fmt.Errorf("gateway: %s: %w", typ, err)
	}
	for _, s := range slots {
		r := refs[s.i]
		select {
		case d := <-s.ch:
			out[s.i].Code = d.Code
			if d.Code != 0 {
				out[s.i].Err = &ResultError{Op: typ, Ref: r, Code: d.Code}
			}
			g.apply(typ, r, d.Code)
		case <-tctx.Done():
			if ctx.Err() != nil {
				out[s.i].Err = fmt.Errorf("gateway: %s %s: %w", typ, r, context.Cause(ctx))
			} else {
				g.count(func(st *Stats) { st.Timeouts++ })
				out[s.i].Err = fmt.Errorf("%w: %s %s got no result on %s within %s", ErrTimeout, typ, r, g.resTopic, g.cfg.Timeout)
			}
			g.setErr(r, out[s.i].Err)
		}
	}
	g.publishOnline(false)
	return out.withText(), nil
}

func (rs Results) withText() Results {
	for i := range rs {
		if rs[i].Err != nil {
			rs[i].Error = rs[i].Err.Error()
		}
	}
	return rs
}

// forget removes the waiters of an operation that are still queued.
func (g *Gateway) forget(typ string, refs []Ref, slots []slot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range slots {
		k := waitKey{typ: typ, ref: refs[s.i]}
		q := slices.DeleteFunc(g.waiters[k], func(c chan deviceResult) bool { return c == s.ch })
		if len(q) == 0 {
			delete(g.waiters, k)
		} else {
			g.waiters[k] = q
		}
	}
}

// entry is the request entry of one sub-device.
func (g *Gateway) entry(typ string, r Ref) (any, error) {
	if typ != OpBind {
		return r, nil
	}
	g.mu.Lock()
	var cfg SubDeviceConfig
	if s := g.subs[r]; s != nil {
		cfg = s.cfg
	}
	g.mu.Unlock()
	key, auth := cfg.DeviceSecret, "psk"
	if cfg.CertFile != "" {
		pem, err := os.ReadFile(cfg.CertFile)
		if err != nil {
			return nil, fmt.Errorf("gateway: bind %s: read its certificate: %w", r, err)
		}
		key, auth = CertKey(pem), "certificate"
	}
	if key == "" {
		return nil, fmt.Errorf("%w %s: configure its device_secret or cert_file (gateway.sub_devices)", ErrNoCredentials, r)
	}
	random := int64(rand.Int32N(math.MaxInt32))
	ts := g.now().Unix()
	return bindEntry{ProductID: r.ProductID, DeviceName: r.DeviceName, Signature: Signature(key, r, random, ts),
		Random: random, Timestamp: ts, SignMethod: "hmacsha1", AuthType: auth}, nil
}

// apply records the outcome of an operation on a sub-device.
func (g *Gateway) apply(typ string, r Ref, code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.subs[r]
	if s == nil {
		return
	}
	if code != 0 {
		g.stats.Rejected++
		s.lastErr = (&ResultError{Op: typ, Ref: r, Code: code}).Error()
		return
	}
	g.stats.Succeeded++
	s.lastErr = ""
	was := s.online
	switch typ {
	case OpOnline:
		s.online, s.bound, s.want = true, true, true
	case OpOffline:
		s.online, s.want = false, false
	case OpBind:
		s.bound = true
	case OpUnbind:
		s.online, s.bound, s.want = false, false, false
	}
	if was != s.online || s.since.IsZero() {
		s.since = g.now()
	}
}

func (g *Gateway) setErr(r Ref, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.subs[r]; s != nil {
		s.lastErr = err.Error()
	}
}
