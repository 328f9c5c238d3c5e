package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core/linkstate"
)

// States of a sub-device in [SubDevice].State.
const (
	// StateOnline: brought online through this gateway.
	StateOnline = "online"
	// StateBound: known to be bound to this gateway, not online.
	StateBound = "bound"
	// StateOffline: not online, binding not known.
	StateOffline = "offline"
)

// SubDevice is a known sub-device as [Gateway.List] reports it.
type SubDevice struct {
	Ref
	// State is StateOnline, StateBound or StateOffline.
	State string `json:"state"`
	// Bound is set once the hub confirmed the binding (bind, online or
	// describe_sub_devices) and cleared by unbind or a describe that does
	// not list it.
	Bound bool `json:"bound"`
	// Configured: from the configuration, device_info.json or
	// AddSubDevice (not only learnt from describe_sub_devices).
	Configured bool `json:"configured"`
	// CanBind: credentials (secret or certificate file) are known.
	CanBind bool `json:"can_bind"`
	// Since is when State last changed.
	Since time.Time `json:"since,omitzero"`
	// LastError is the last failed operation on it, if any.
	LastError string `json:"last_error,omitempty"`
}

type sub struct {
	cfg        SubDeviceConfig
	configured bool
	online     bool
	bound      bool
	want       bool // online wanted: restored after a reconnect
	since      time.Time
	lastErr    string
}

// waitKey matches a result to the operation waiting for it.
type waitKey struct {
	typ string
	ref Ref
}

// Gateway is the gateway feature. Create it with [New] and call Run; the
// other methods are safe for concurrent use and need Run to be running to
// reach the hub.
type Gateway struct {
	cfg      Config
	bus      *bus.Bus
	log      *slog.Logger
	now      func() time.Time
	reqTopic string
	resTopic string

	ready   chan struct{} // closed once the result topic is subscribed
	restore chan struct{} // capacity 1: bring wanted sub-devices online
	wg      sync.WaitGroup

	pubMu     sync.Mutex      // serialises publishOnline, guards published
	published []bus.DeviceRef // the online set last published

	mu        sync.Mutex // guards everything below
	running   bool
	subs      map[Ref]*sub
	waiters   map[waitKey][]chan deviceResult
	describes []chan []Ref
	stats     Stats
}

// New prepares the gateway feature of device productID/deviceName. now is
// the device clock used for bind timestamps (the daemon passes its
// corrected core.Clock.Now); nil means time.Now. log may be nil. New does
// no I/O. Merge device_info.json sub-devices with Config.WithDeviceInfo
// before calling it.
func New(cfg Config, b *bus.Bus, productID, deviceName string, now func() time.Time, log *slog.Logger) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if b == nil {
		return nil, errors.New("gateway: a bus is required")
	}
	gw := Ref{ProductID: productID, DeviceName: deviceName}
	if err := gw.Validate(); err != nil {
		return nil, fmt.Errorf("gateway: the gateway device itself: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{
		cfg: cfg, bus: b, log: log.With("feature", "gateway"), now: now,
		reqTopic: "$gateway/operation/" + gw.ProductID + "/" + gw.DeviceName,
		resTopic: "$gateway/operation/result/" + gw.ProductID + "/" + gw.DeviceName,
		ready:    make(chan struct{}),
		restore:  make(chan struct{}, 1),
		subs:     map[Ref]*sub{},
		waiters:  map[waitKey][]chan deviceResult{},
	}
	for _, s := range cfg.SubDevices {
		if s.Ref() == gw {
			return nil, fmt.Errorf("gateway: sub_devices: %s is the gateway itself", s)
		}
		g.subs[s.Ref()] = &sub{cfg: s, configured: true, want: cfg.autoOnline()}
	}
	return g, nil
}

// ErrExists: AddSubDevice of a sub-device already configured.
var ErrExists = errors.New("gateway: sub-device already configured")

// AddSubDevice adds a sub-device at run time (it is not brought online;
// call Online). A sub-device only learnt from describe_sub_devices gets
// the credentials; one already configured is ErrExists.
func (g *Gateway) AddSubDevice(s SubDeviceConfig) error {
	if err := s.Validate(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur, ok := g.subs[s.Ref()]; ok {
		if cur.configured {
			return fmt.Errorf("%w: %s", ErrExists, s)
		}
		cur.cfg, cur.configured = s, true
		return nil
	}
	g.subs[s.Ref()] = &sub{cfg: s, configured: true}
	return nil
}

// List returns the known sub-devices, sorted by product and name.
func (g *Gateway) List() []SubDevice {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]SubDevice, 0, len(g.subs))
	for r, s := range g.subs {
		st := StateOffline
		switch {
		case s.online:
			st = StateOnline
		case s.bound:
			st = StateBound
		}
		out = append(out, SubDevice{Ref: r, State: st, Bound: s.bound, Configured: s.configured,
			CanBind: s.cfg.DeviceSecret != "" || s.cfg.CertFile != "", Since: s.since, LastError: s.lastErr})
	}
	slices.SortFunc(out, func(a, b SubDevice) int { return strings.Compare(a.Ref.String(), b.Ref.String()) })
	return out
}

// Run subscribes to the result topic, brings the configured sub-devices
// online (when auto_online), brings the sub-devices that were online back
// online after every reconnect, and dispatches results until ctx ends. It
// returns nil when ctx ends, after every goroutine it started stopped.
// Call it once.
func (g *Gateway) Run(ctx context.Context) error {
	if g.cfg.Disabled {
		return g.answerQueries(ctx)
	}
	g.mu.Lock()
	if g.running {
		g.mu.Unlock()
		return errors.New("gateway: Run called twice")
	}
	g.running = true
	g.mu.Unlock()
	defer g.wg.Wait()

	states, err := g.bus.Subscribe(ctx, bus.TopicLinkState)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	queries, err := g.bus.Subscribe(ctx, bus.TopicSubDevicesQuery)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	results, err := g.bus.CloudSubscribeWait(ctx, g.resTopic, 1)
	if err != nil {
		return nil // ctx ended
	}
	close(g.ready)
	g.wg.Go(func() { g.restorer(ctx) })
	g.requestRestore()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-states:
			if !ok {
				return nil
			}
			m.Ack()
			st, err := bus.DecodeLinkState(m)
			if err != nil {
				continue
			}
			switch st.State {
			case linkstate.Connected:
				// A new session: the hub took the sub-devices offline with
				// the old one, even if no "disconnected" was seen.
				g.linkDown()
				g.requestRestore()
			case linkstate.Disconnected, linkstate.Stopped:
				g.linkDown()
			}
			g.publishOnline(false)
		case m, ok := <-queries:
			if !ok {
				return nil
			}
			m.Ack()
			g.answer(m)
		case m, ok := <-results:
			if !ok {
				return nil
			}
			m.Ack()
			g.receive(m.Payload)
			g.publishOnline(false)
		}
	}
}

// linkDown records that the hub took every sub-device offline with the
// gateway's session; they stay wanted and are restored on reconnect.
func (g *Gateway) linkDown() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.subs {
		if s.online {
			s.online, s.since = false, g.now()
		}
	}
}

func (g *Gateway) requestRestore() {
	select {
	case g.restore <- struct{}{}:
	default:
	}
}

// restorer brings the wanted sub-devices online when asked (at start and
// after every reconnect), binding the configured ones first at start when
// auto_bind is set. Operations that got no answer are retried with a
// growing pause until they get one or another request comes.
func (g *Gateway) restorer(ctx context.Context) {
	var retry <-chan time.Time
	pause := time.Second
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.restore:
			pause = time.Second
		case <-retry:
		}
		retry = nil
		if first && g.cfg.AutoBind {
			if refs := g.bindable(); len(refs) > 0 {
				res, err := g.Bind(ctx, refs...)
				if err == nil {
					err = res.Err()
				}
				if err != nil && ctx.Err() == nil {
					g.log.Warn("gateway: binding the configured sub-devices failed", "err", err)
				}
			}
		}
		first = false
		if !g.bringUp(ctx) && ctx.Err() == nil {
			g.log.Warn("gateway: bringing sub-devices online got no answer; retrying", "retry_in", pause)
			retry = time.After(pause)
			pause = min(2*pause, 30*time.Second)
		}
	}
}

func (g *Gateway) bindable() []Ref {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Ref
	for r, s := range g.subs {
		if s.configured && (s.cfg.DeviceSecret != "" || s.cfg.CertFile != "") {
			out = append(out, r)
		}
	}
	return out
}

// bringUp sends online for the wanted sub-devices that are not online. It
// reports false when some got no answer (worth retrying); a refusal is
// final: the sub-device is no longer wanted online.
func (g *Gateway) bringUp(ctx context.Context) bool {
	g.mu.Lock()
	var refs []Ref
	for r, s := range g.subs {
		if s.want && !s.online {
			refs = append(refs, r)
		}
	}
	g.mu.Unlock()
	if len(refs) == 0 {
		return true
	}
	slices.SortFunc(refs, func(a, b Ref) int { return strings.Compare(a.String(), b.String()) })
	res, err := g.op(ctx, OpOnline, refs)
	if err != nil {
		g.count(func(s *Stats) { s.RestoreFailures++ })
		g.log.Warn("gateway: bringing sub-devices online failed", "err", err)
		return false
	}
	ok := true
	for _, r := range res {
		var re *ResultError
		switch {
		case r.Err == nil:
			g.count(func(s *Stats) { s.Restores++ })
		case errors.As(r.Err, &re):
			g.count(func(s *Stats) { s.RestoreFailures++ })
			g.mu.Lock()
			if s := g.subs[r.Ref]; s != nil {
				s.want = false
			}
			g.mu.Unlock()
			g.log.Warn("gateway: the hub refused to bring a sub-device online; not retried", "sub_device", r.Ref.String(), "result", re.Code)
		default:
			g.count(func(s *Stats) { s.RestoreFailures++ })
			ok = false
		}
	}
	return ok
}

// receive handles one message from the result topic.
func (g *Gateway) receive(b []byte) {
	in, err := parseResult(b)
	if err != nil {
		g.count(func(s *Stats) {
			switch {
			case errors.Is(err, ErrTooLarge):
				s.TooLarge++
			case errors.Is(err, ErrUnknownType):
				s.UnknownType++
			default:
				s.Malformed++
			}
		})
		g.log.Warn("gateway: result dropped", "topic", g.resTopic, "reason", err)
		return
	}
	for _, e := range in.Bad {
		g.count(func(s *Stats) { s.BadEntries++ })
		g.log.Warn("gateway: result entry skipped", "type", in.Type, "reason", e)
	}
	if in.Type == OpDescribe {
		g.describeResult(in)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, d := range in.Devices {
		k := waitKey{typ: in.Type, ref: d.Ref}
		q := g.waiters[k]
		if len(q) == 0 {
			if _, known := g.subs[d.Ref]; known {
				g.stats.Orphaned++
				g.log.Debug("gateway: result for no waiting operation (late or not ours)", "type", in.Type, "sub_device", d.Ref.String())
			} else {
				g.stats.UnknownSubDevice++
				g.log.Warn("gateway: result for an unknown sub-device dropped", "type", in.Type, "sub_device", d.Ref.String(), "result", d.Code)
			}
			continue
		}
		q[0] <- d // capacity 1, each waiter gets one
		if len(q) == 1 {
			delete(g.waiters, k)
		} else {
			g.waiters[k] = q[1:]
		}
	}
}

// describeResult updates the bound flags and wakes the oldest describe.
func (g *Gateway) describeResult(in inbound) {
	refs := make([]Ref, 0, len(in.Devices))
	g.mu.Lock()
	defer g.mu.Unlock()
	listed := map[Ref]bool{}
	for _, d := range in.Devices {
		refs = append(refs, d.Ref)
		listed[d.Ref] = true
		s := g.subs[d.Ref]
		if s == nil {
			s = &sub{cfg: SubDeviceConfig{ProductID: d.ProductID, DeviceName: d.DeviceName}, since: g.now()}
			g.subs[d.Ref] = s
		}
		s.bound = true
	}
	for r, s := range g.subs {
		if !listed[r] && s.bound {
			s.bound, s.online, s.since = false, false, g.now()
		}
	}
	if len(g.describes) == 0 {
		g.stats.Orphaned++
		return
	}
	g.describes[0] <- refs
	g.describes = g.describes[1:]
}

// Topic returns the request topic (for logs and status).
func (g *Gateway) Topic() string { return g.reqTopic }
