package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/core/linkstate"
)

// scriptDriver is a driver whose dials fail with the errors in script, in
// order, and then succeed with one end of a net.Pipe. A nil entry succeeds.
// No real peer can be scripted to fail exactly N times, so this is a fake.
type scriptDriver struct {
	mu      sync.Mutex
	script  []error
	dials   int
	block   bool // when true, Dial waits for ctx
	openErr error
}

func (d *scriptDriver) Name() string                   { return "script" }
func (d *scriptDriver) Transports() []driver.Transport { return []driver.Transport{driver.Stream} }
func (d *scriptDriver) Probe(context.Context) error    { return nil }
func (d *scriptDriver) Version() string                { return "script/1" }
func (d *scriptDriver) Open(cfg []byte) (driver.Dialer, error) {
	if d.openErr != nil {
		return nil, d.openErr
	}
	return d, nil
}

func (d *scriptDriver) Dial(ctx context.Context, tr driver.Transport, addr string) (driver.Conn, error) {
	d.mu.Lock()
	n := d.dials
	d.dials++
	block := d.block
	d.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if n < len(d.script) && d.script[n] != nil {
		return nil, d.script[n]
	}
	a, b := net.Pipe()
	go func() { // the "peer": drain until closed
		buf := make([]byte, 64)
		for {
			if _, err := b.Read(buf); err != nil {
				_ = b.Close()
				return
			}
		}
	}()
	return payloadConn{a}, nil
}

func (d *scriptDriver) Dials() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials
}

// payloadConn adds a capability to the conn for LinkCapability.
type payloadConn struct{ net.Conn }

func (payloadConn) MaxPayload() int { return 1460 }

func refusals(n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = fmt.Errorf("connect: %w", driver.ErrRefused)
	}
	return out
}

func newTestLink(t *testing.T, d *scriptDriver, cfg LinkConfig, opts LinkOptions) *Link {
	t.Helper()
	r := NewRegistry()
	require.NoError(t, r.Register(d))
	cfg.Driver = "script"
	if cfg.Address == "" {
		cfg.Address = "hub.example:8883"
	}
	l, err := r.OpenLink(cfg, opts)
	require.NoError(t, err)
	return l
}

// recorder collects the states a Link reports through OnState.
type recorder struct {
	mu     sync.Mutex
	events []linkstate.State
}

func (r *recorder) add(s linkstate.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) byState(state linkstate.Status) []linkstate.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []linkstate.State
	for _, e := range r.events {
		if e.State == state {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) statuses() []linkstate.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []linkstate.Status
	for _, e := range r.events {
		out = append(out, e.State)
	}
	return out
}

func TestLinkBacksOffGrowsCapsAndConnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		rec := &recorder{}

		d := &scriptDriver{script: refusals(7)}
		l := newTestLink(t, d, LinkConfig{Backoff: BackoffConfig{
			Initial: Duration(time.Second), Max: Duration(10 * time.Second), Jitter: 0.5,
		}}, LinkOptions{OnState: rec.add, Rand: fixedRand(0.5)})

		sessions := 0
		err := l.Run(ctx, func(ctx context.Context, conn driver.Conn, ready func()) error {
			sessions++
			assert.Equal(t, linkstate.Connecting, l.State().State, "not connected before the session says so")
			ready()
			assert.Equal(t, linkstate.Connected, l.State().State)
			mp, err := LinkCapability[driver.MaxPayloader](l)
			if assert.NoError(t, err) {
				assert.Equal(t, 1460, mp.MaxPayload())
			}
			cancel()
			return nil
		})
		require.NoError(t, err)
		synctest.Wait()

		assert.Equal(t, 1, sessions)
		assert.Equal(t, 8, d.Dials())
		var waits []time.Duration
		var attempts []int
		for _, e := range rec.byState(linkstate.Disconnected) {
			waits = append(waits, e.RetryIn)
			attempts = append(attempts, e.Attempt)
			assert.Contains(t, e.Err, "dial via script hub.example:8883")
			assert.Contains(t, e.Err, "connection refused")
		}
		// Nominal 1,2,4,8,10,10,10 s, each × (1 − 0.5×0.5).
		ms := time.Millisecond
		assert.Equal(t, []time.Duration{750 * ms, 1500 * ms, 3000 * ms, 6000 * ms, 7500 * ms, 7500 * ms, 7500 * ms}, waits)
		assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7}, attempts)
		assert.Len(t, rec.byState(linkstate.Connecting), 8)
		assert.Len(t, rec.byState(linkstate.Connected), 1)
		assert.Len(t, rec.byState(linkstate.Stopped), 1)
		assert.Equal(t, linkstate.Stopped, l.State().State)
		assert.Equal(t, "script", l.State().Driver)
		assert.Equal(t, "hub.example:8883", l.State().Endpoint)

		_, err = LinkCapability[driver.MaxPayloader](l)
		assert.ErrorIs(t, err, driver.ErrNotSupported, "no conn once stopped")
		v, err := LinkCapability[driver.Versioner](l)
		require.NoError(t, err)
		assert.Equal(t, "script/1", v.Version())
		cancel()
	})
}

// OnState sees every state, one call at a time and in order, across a
// connect, a drop and a reconnect, even when the session calls ready from a
// goroutine of its own; and State already returns what OnState was given.
func TestLinkReportsStatesInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var l *Link
		var (
			mu       sync.Mutex
			inside   bool
			got      []linkstate.State
			mismatch []string
		)
		onState := func(s linkstate.State) {
			mu.Lock()
			if inside {
				mismatch = append(mismatch, "overlapping calls at "+s.State.String())
			}
			inside = true
			mu.Unlock()
			cur := l.State()
			time.Sleep(time.Millisecond) // a slow callback must still see no overlap
			mu.Lock()
			if cur != s {
				mismatch = append(mismatch, fmt.Sprintf("State() = %v inside OnState(%v)", cur.State, s.State))
			}
			got = append(got, s)
			inside = false
			mu.Unlock()
		}
		d := &scriptDriver{script: []error{nil, refusals(1)[0], nil}}
		l = newTestLink(t, d, LinkConfig{}, LinkOptions{OnState: onState, Rand: fixedRand(0)})

		n := 0
		require.NoError(t, l.Run(ctx, func(ctx context.Context, conn driver.Conn, ready func()) error {
			n++
			switch n {
			case 1: // connects, then the connection drops
				ready()
				return fmt.Errorf("read: %w", driver.ErrReset)
			default: // reconnects; ready comes from the session's reader
				go ready()
				time.Sleep(time.Second)
				cancel()
				return nil
			}
		}))
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		assert.Empty(t, mismatch)
		var statuses []linkstate.Status
		for _, s := range got {
			statuses = append(statuses, s.State)
			assert.Equal(t, "script", s.Driver)
			assert.Equal(t, "hub.example:8883", s.Endpoint)
			assert.False(t, s.Since.IsZero())
		}
		assert.Equal(t, []linkstate.Status{
			linkstate.Connecting, linkstate.Connected, // first session
			linkstate.Disconnected,                       // dropped: connection reset
			linkstate.Connecting, linkstate.Disconnected, // a refused dial
			linkstate.Connecting, linkstate.Connected, // back
			linkstate.Stopped,
		}, statuses)
		require.Len(t, got, 8)
		assert.Contains(t, got[2].Err, "connection reset")
		assert.Equal(t, 1, got[2].Attempt)
		assert.Contains(t, got[4].Err, "connection refused")
		assert.Equal(t, 2, got[4].Attempt)
		assert.Equal(t, 2, got[5].Attempt, "connecting carries the attempt count")
		assert.Equal(t, linkstate.Stopped, l.State().State)
	})
}

func TestLinkStableSessionResetsAttempts(t *testing.T) {
	tests := []struct {
		name    string
		lasting time.Duration
		want    []time.Duration
	}{
		{name: "flapping sessions keep backing off", lasting: 5 * time.Second,
			want: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}},
		{name: "stable sessions restart from initial", lasting: 30 * time.Second,
			want: []time.Duration{time.Second, time.Second, time.Second, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				rec := &recorder{}
				l := newTestLink(t, &scriptDriver{}, LinkConfig{}, LinkOptions{OnState: rec.add, Rand: fixedRand(0)})

				n := 0
				require.NoError(t, l.Run(ctx, func(ctx context.Context, conn driver.Conn, ready func()) error {
					ready()
					if n++; n > len(tt.want) {
						cancel()
						return nil
					}
					time.Sleep(tt.lasting)
					return fmt.Errorf("read: %w", driver.ErrReset)
				}))
				synctest.Wait()
				var waits []time.Duration
				for _, e := range rec.byState(linkstate.Disconnected) {
					waits = append(waits, e.RetryIn)
					assert.Contains(t, e.Err, "connection reset")
				}
				assert.Equal(t, tt.want, waits)
				cancel()
			})
		})
	}
}

func TestLinkRunReturnsOnCancel(t *testing.T) {
	tests := []struct {
		name   string
		driver *scriptDriver
		cancel time.Duration // after this much (fake) time
	}{
		{name: "while dialling", driver: &scriptDriver{block: true}, cancel: time.Second},
		{name: "while backing off", driver: &scriptDriver{script: refusals(100)}, cancel: 90 * time.Second},
		{name: "during a session", driver: &scriptDriver{}, cancel: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// synctest.Test fails if any goroutine started inside is still
			// blocked at the end, so this also checks for leaks.
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				l := newTestLink(t, tt.driver, LinkConfig{}, LinkOptions{})
				done := make(chan error)
				go func() {
					done <- l.Run(ctx, func(ctx context.Context, conn driver.Conn, ready func()) error {
						ready()
						<-ctx.Done()
						return ctx.Err()
					})
				}()
				time.Sleep(tt.cancel)
				synctest.Wait()
				select {
				case <-done:
					t.Fatal("Run returned before cancel")
				default:
				}
				cancel()
				assert.NoError(t, <-done)
				assert.Equal(t, linkstate.Stopped, l.State().State)
			})
		})
	}
}

// levelRecorder is a slog.Handler that records the level of each message.
type levelRecorder struct {
	mu     sync.Mutex
	levels map[string][]slog.Level
}

func (h *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *levelRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.levels[r.Message] = append(h.levels[r.Message], r.Level)
	return nil
}
func (h *levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levelRecorder) WithGroup(string) slog.Handler      { return h }

func TestLinkLogsInvalidConfigAtErrorAndKeepsRetrying(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := &ConfigError{Source: "tls", Field: "ca", Msg: "no such file"}
		d := &scriptDriver{script: []error{bad, bad, fmt.Errorf("x: %w", driver.ErrUnreachable)}}
		h := &levelRecorder{levels: map[string][]slog.Level{}}
		l := newTestLink(t, d, LinkConfig{}, LinkOptions{Logger: slog.New(h), Rand: fixedRand(0)})
		ctx, cancel := context.WithCancel(t.Context())
		require.NoError(t, l.Run(ctx, func(context.Context, driver.Conn, func()) error { cancel(); return nil }))
		assert.Equal(t, 4, d.Dials())
		assert.Equal(t, []slog.Level{slog.LevelError, slog.LevelError, slog.LevelWarn}, h.levels["link: dial failed"])
	})
}

func TestLinkDialWrapsErrors(t *testing.T) {
	d := &scriptDriver{script: refusals(1)}
	l := newTestLink(t, d, LinkConfig{Address: "10.0.0.1:1883"}, LinkOptions{})
	_, err := l.Dial(t.Context())
	var oe *OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "dial", oe.Op)
	assert.Equal(t, "script", oe.Driver)
	assert.Equal(t, "10.0.0.1:1883", oe.Addr)
	assert.ErrorIs(t, err, driver.ErrRefused)
	assert.Equal(t, ClassUnavailable, ClassOf(err))

	c, err := l.Dial(t.Context())
	require.NoError(t, err)
	require.NoError(t, c.Close())
	assert.Equal(t, "script", l.Driver())
	assert.Equal(t, "10.0.0.1:1883", l.Address())
	assert.Equal(t, linkstate.Disconnected, l.State().State)
}

func TestOpenLinkRejects(t *testing.T) {
	tests := []struct {
		name   string
		cfg    LinkConfig
		driver *scriptDriver
		want   string
		is     error
	}{
		{name: "unknown driver", cfg: LinkConfig{Driver: "tls", Address: "h:1"}, want: `unknown driver "tls"`, is: ErrUnknownDriver},
		{name: "empty address", cfg: LinkConfig{Driver: "script"}, want: "address: empty"},
		{name: "unsupported transport", cfg: LinkConfig{Driver: "script", Address: "h:1", Transport: driver.Datagram},
			want: `does not offer transport "datagram"`, is: driver.ErrNotSupported},
		{name: "bad backoff", cfg: LinkConfig{Driver: "script", Address: "h:1", Backoff: BackoffConfig{Jitter: 2}}, want: "jitter"},
		{name: "negative dial timeout", cfg: LinkConfig{Driver: "script", Address: "h:1", DialTimeout: -time.Second}, want: "dial_timeout"},
		{name: "driver rejects config", cfg: LinkConfig{Driver: "script", Address: "h:1"},
			driver: &scriptDriver{openErr: errors.New(`script: unknown key "colour"`)}, want: `unknown key "colour"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			d := tt.driver
			if d == nil {
				d = &scriptDriver{}
			}
			require.NoError(t, r.Register(d))
			_, err := r.OpenLink(tt.cfg, LinkOptions{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
		})
	}
}

// A session that calls ready after it has returned (a straggling goroutine
// of a dead connection) must not make the link look connected.
func TestLinkIgnoresReadyAfterSessionEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		l := newTestLink(t, &scriptDriver{}, LinkConfig{}, LinkOptions{Rand: fixedRand(0)})
		var late func()
		n := 0
		require.NoError(t, l.Run(ctx, func(ctx context.Context, conn driver.Conn, ready func()) error {
			n++
			if n == 1 {
				late = ready
				return fmt.Errorf("read: %w", driver.ErrReset)
			}
			late() // the first session's ready, called too late
			assert.Equal(t, linkstate.Connecting, l.State().State)
			cancel()
			return nil
		}))
		synctest.Wait()
	})
}
