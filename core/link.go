package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/core/linkstate"
)

// LinkConfig says what a [Link] connects to and how it retries. It is a
// runtime value that cmd/iotd builds from its own configuration file.
type LinkConfig struct {
	// Driver is the registry name of the driver ("tcp", "tls", "at.quectel").
	Driver string
	// Address is the "host:port" to dial.
	Address string
	// Transport is the kind of connection; empty means driver.Stream.
	Transport driver.Transport
	// DriverConfig is the driver's JSON configuration, passed to its Open.
	// Empty selects the driver's defaults.
	DriverConfig []byte
	// DialTimeout bounds one dial (name lookup, connect, handshake).
	// Default 15s.
	DialTimeout time.Duration
	// Backoff says how long to wait between attempts.
	Backoff BackoffConfig
}

// DefaultDialTimeout bounds one dial when LinkConfig.DialTimeout is zero.
const DefaultDialTimeout = 15 * time.Second

// LinkOptions are a Link's collaborators. The zero value works.
type LinkOptions struct {
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// OnState, when non-nil, is called with every state the Link enters
	// (see [Link.Run]), one call at a time and in the order the states
	// happen: from Run's goroutine, or for [linkstate.Connected] from the
	// goroutine on which the session calls ready. The Link waits for it, so
	// it must not block, and it must not call Run or Dial; [Link.State]
	// already returns the state passed. Method PublishLinkState of the
	// bus package's Bus has this signature and publishes the states as
	// events.
	OnState func(linkstate.State)
	// Rand returns numbers uniform in [0, 1) for backoff jitter; nil uses
	// math/rand/v2. Tests inject a fixed source.
	Rand func() float64
}

// Link keeps a connection to one address up through one driver: it dials,
// hands the connection to a session, and when the session ends waits a
// jittered, capped backoff and dials again, forever, until its context ends.
// Create it with [Registry.OpenLink]. A Link is safe for concurrent use, but
// Run must not be called twice at once.
type Link struct {
	cfg     LinkConfig
	drv     driver.Driver
	dialer  driver.Dialer
	backoff *Backoff
	log     *slog.Logger
	onState func(linkstate.State)

	mu    sync.Mutex // guards state and conn
	state linkstate.State
	conn  driver.Conn
}

// OpenLink prepares a Link: it looks up cfg.Driver, checks the transport and
// the backoff configuration and calls the driver's Open. It does no I/O.
func (r *Registry) OpenLink(cfg LinkConfig, opts LinkOptions) (*Link, error) {
	if cfg.Address == "" {
		return nil, &ConfigError{Source: "link", Field: "address", Msg: "empty; set the host:port to connect to"}
	}
	if cfg.Transport == "" {
		cfg.Transport = driver.Stream
	}
	if cfg.DialTimeout < 0 {
		return nil, &ConfigError{Source: "link", Field: "dial_timeout", Msg: fmt.Sprintf("%s is negative", cfg.DialTimeout)}
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	d, err := r.Driver(cfg.Driver)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(d.Transports(), cfg.Transport) {
		return nil, fmt.Errorf("core: link: driver %q does not offer transport %q (it offers %v): %w",
			cfg.Driver, cfg.Transport, d.Transports(), driver.ErrNotSupported)
	}
	bo, err := NewBackoff(cfg.Backoff, opts.Rand)
	if err != nil {
		return nil, err
	}
	dialer, err := d.Open(cfg.DriverConfig)
	if err != nil {
		return nil, fmt.Errorf("core: link: driver %q configuration: %w", cfg.Driver, err)
	}
	cfg.DriverConfig = nil // the driver keeps what it needs; the raw config may hold secrets
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Link{
		cfg: cfg, drv: d, dialer: dialer, backoff: bo, onState: opts.OnState,
		log: log.With("driver", cfg.Driver, "addr", cfg.Address),
	}
	l.state = linkstate.State{State: linkstate.Disconnected, Driver: cfg.Driver, Endpoint: cfg.Address}
	return l, nil
}

// Driver returns the registry name of the link's driver.
func (l *Link) Driver() string { return l.cfg.Driver }

// Address returns the address the link dials.
func (l *Link) Address() string { return l.cfg.Address }

// State returns the latest state, the one last passed to
// LinkOptions.OnState; before Run, [linkstate.Disconnected].
func (l *Link) State() linkstate.State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state
}

// Dial makes one connection attempt, bounded by the dial timeout and ctx.
// Errors are *OpError with Op "dial".
func (l *Link) Dial(ctx context.Context) (driver.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.DialTimeout)
	defer cancel()
	c, err := l.dialer.Dial(ctx, l.cfg.Transport, l.cfg.Address)
	if err != nil {
		return nil, &OpError{Op: "dial", Driver: l.cfg.Driver, Addr: l.cfg.Address, Err: err}
	}
	if c == nil {
		return nil, &OpError{Op: "dial", Driver: l.cfg.Driver, Addr: l.cfg.Address,
			Err: errors.New("driver returned no connection and no error (driver bug)")}
	}
	return c, nil
}

// ErrSessionEnded is the reason reported when a session returns nil.
var ErrSessionEnded = errors.New("core: link: session ended")

// Session is what a Link runs over each connection it dials: a protocol
// (MQTT, CoAP) that uses conn until it is lost. The session calls ready once
// its own handshake succeeded (for MQTT, on CONNACK); only then does the Link
// report "connected", so a connection the peer refuses at the protocol level
// never shows as connected. ready may be called at most once, from any
// goroutine. The session returns when the connection is lost, with the
// reason, or nil when ctx ends; it need not close conn.
type Session func(ctx context.Context, conn driver.Conn, ready func()) error

// Run keeps the link up until ctx ends, then returns nil. Each round it dials;
// on success it calls session with the connection and ctx. session returns
// when the connection is lost, with the reason; Run then closes the
// connection, waits the backoff and dials again. The attempt count, which
// drives the backoff, grows with every failed dial and every session shorter
// than BackoffConfig.StableAfter, and restarts from zero after a session that
// lasted at least that long. Errors of class ClassInvalidConfig are retried
// like any other (the configuration may be fixed underneath, e.g. a renewed
// certificate) but logged at Error level.
//
// States: [linkstate.Connecting] while dialling and until the session calls
// ready, [linkstate.Connected] from then, [linkstate.Disconnected] (with the
// reason and the wait) between attempts, [linkstate.Stopped] once Run
// returns.
func (l *Link) Run(ctx context.Context, session Session) error {
	attempt := 0
	defer l.setState(linkstate.State{State: linkstate.Stopped})
	for {
		if ctx.Err() != nil {
			return nil
		}
		l.setState(linkstate.State{State: linkstate.Connecting, Attempt: attempt})
		conn, err := l.Dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !l.wait(ctx, &attempt, err, "dial failed") {
				return nil
			}
			continue
		}

		l.mu.Lock()
		l.conn = conn
		l.mu.Unlock()
		// ready may come from another goroutine of the session; once the
		// session has returned it must not announce a dead connection.
		var readyMu sync.Mutex
		announced, over := false, false
		ready := func() {
			readyMu.Lock()
			defer readyMu.Unlock()
			if announced || over {
				return
			}
			announced = true
			l.setState(linkstate.State{State: linkstate.Connected})
			l.log.Info("link: connected")
		}
		start := time.Now()
		err = session(ctx, conn, ready)
		readyMu.Lock()
		over = true
		readyMu.Unlock()
		lasted := time.Since(start)
		_ = conn.Close()
		l.mu.Lock()
		l.conn = nil
		l.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = ErrSessionEnded
		}
		if lasted >= l.backoff.StableAfter() {
			attempt = 0
		}
		if !l.wait(ctx, &attempt, err, "connection lost") {
			return nil
		}
	}
}

// wait reports the disconnection, sleeps the backoff for *attempt and
// increments it. It returns false when ctx ended first.
func (l *Link) wait(ctx context.Context, attempt *int, cause error, what string) bool {
	delay := l.backoff.Delay(*attempt)
	*attempt++
	lvl := slog.LevelWarn
	if ClassOf(cause) == ClassInvalidConfig {
		lvl = slog.LevelError
	}
	l.log.Log(ctx, lvl, "link: "+what, "err", cause, "class", ClassOf(cause).String(), "code", int(CodeOf(cause)),
		"attempt", *attempt, "retry_in", delay)
	l.setState(linkstate.State{State: linkstate.Disconnected, Attempt: *attempt, Err: cause.Error(), RetryIn: delay})
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// setState records s (filling driver, endpoint and time) and reports it to
// OnState. Callers are serialised (Run's loop; ready under its lock, which
// Run takes before moving on), so the reports keep their order.
func (l *Link) setState(s linkstate.State) {
	s.Driver, s.Endpoint, s.Since = l.cfg.Driver, l.cfg.Address, time.Now()
	l.mu.Lock()
	l.state = s
	l.mu.Unlock()
	if l.onState != nil {
		l.onState(s)
	}
}

// LinkCapability finds capability T on the link's current connection, then
// on its dialer, then on its driver (see driver.Lookup). The error wraps
// driver.ErrNotSupported when no layer offers T.
func LinkCapability[T any](l *Link) (T, error) {
	l.mu.Lock()
	conn := l.conn
	l.mu.Unlock()
	if conn != nil {
		if v, err := driver.Lookup[T](conn); err == nil {
			return v, nil
		}
	}
	if v, err := driver.Lookup[T](l.dialer); err == nil {
		return v, nil
	}
	return driver.Lookup[T](l.drv)
}
