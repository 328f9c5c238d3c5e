package shadow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/features/shadow"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/internal/leakcheck"
)

// wait bounds every wait for something asynchronous; it is a deadline
// against hangs, not a timing assertion.
const wait = 15 * time.Second

// start runs a shadow on dev's bus until the end of the test (or stop).
func start(t *testing.T, dev *hubtest.Device, cfg shadow.Config, setup func(*shadow.Shadow)) (*shadow.Shadow, func()) {
	t.Helper()
	s, err := shadow.New(cfg, dev.Bus, dev.Info.ProductID, dev.Info.DeviceName, nil)
	require.NoError(t, err)
	if setup != nil {
		setup(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(wait):
				t.Error("shadow: Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

func raw(t *testing.T, s string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(s), &m))
	return m
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func TestReportGetRoundTrip(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	dev := hubtest.Connect(t, hub, "PSHD000001", "dev1")
	s, _ := start(t, dev, shadow.Config{}, nil)
	ctx := ctxT(t)

	doc, err := s.Report(ctx, map[string]any{"temp": 21.5, "name": `say "hi" \ bye`, "on": true})
	require.NoError(t, err)
	assert.JSONEq(t, `{"temp":21.5,"name":"say \"hi\" \\ bye","on":true}`, jsonOf(t, doc.Reported))

	got, err := s.Get(ctx)
	require.NoError(t, err)
	assert.JSONEq(t, `{"temp":21.5,"name":"say \"hi\" \\ bye","on":true}`, jsonOf(t, got.Reported))
	assert.Equal(t, got.Version, s.Document().Version)
	assert.Positive(t, got.Version)
	assert.NotEmpty(t, got.Metadata)

	// The hub stored exactly that, with the string escaped properly.
	view, err := hubsim.NewClient(hub.AdminURL()).Shadow(ctx, "PSHD000001", "dev1")
	require.NoError(t, err)
	assert.Equal(t, `"say \"hi\" \\ bye"`, string(view.Reported["name"]))
	assert.Equal(t, got.Version, view.Version)

	// Overwrite replaces the reported state.
	doc, err = s.Update(ctx, shadow.Update{Reported: map[string]any{"only": 1}, Overwrite: true})
	require.NoError(t, err)
	assert.JSONEq(t, `{"only":1}`, jsonOf(t, doc.Reported))
	got, err = s.Get(ctx)
	require.NoError(t, err)
	assert.JSONEq(t, `{"only":1}`, jsonOf(t, got.Reported))

	// Async variants report through the callback.
	res := make(chan error, 2)
	s.UpdateAsync(shadow.Update{Reported: map[string]any{"async": "yes"}}, func(_ shadow.Document, err error) { res <- err })
	s.GetAsync(func(d shadow.Document, err error) {
		if err == nil && string(d.Reported["async"]) != `"yes"` && string(d.Reported["only"]) != "1" {
			err = fmt.Errorf("unexpected document %s", jsonOf(t, d.Reported))
		}
		res <- err
	})
	for range 2 {
		select {
		case err := <-res:
			assert.NoError(t, err)
		case <-ctx.Done():
			t.Fatal("async callback not called")
		}
	}
	assert.Zero(t, s.Stats().Timeouts)
	assert.Zero(t, s.Stats().Rejected)

	_, err = s.Update(ctx, shadow.Update{})
	assert.ErrorContains(t, err, "empty update")
}

// handled records the values a property handler received.
type handled struct {
	mu     sync.Mutex
	values []string
	ch     chan string
}

func newHandled() *handled { return &handled{ch: make(chan string, 16)} }

func (h *handled) handler(_ context.Context, v json.RawMessage, _ int64) error {
	h.mu.Lock()
	h.values = append(h.values, string(v))
	h.mu.Unlock()
	h.ch <- string(v)
	return nil
}

func (h *handled) next(t *testing.T) string {
	t.Helper()
	select {
	case v := <-h.ch:
		return v
	case <-time.After(wait):
		t.Fatal("handler not called")
		return ""
	}
}

func waitDesiredCleared(t *testing.T, hub *hubsim.Hub, pid, dn, key, reported string) {
	t.Helper()
	admin := hubsim.NewClient(hub.AdminURL())
	require.Eventually(t, func() bool {
		v, err := admin.Shadow(context.Background(), pid, dn)
		_, stillDesired := v.Desired[key]
		return err == nil && !stillDesired && string(v.Reported[key]) == reported
	}, wait, 10*time.Millisecond, "the device reports %s=%s and clears it from desired", key, reported)
}

func TestDesiredSetWhileStoppedIsAppliedAfterStart(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	const pid, dn = "PSHD000002", "dev1"
	dev := hubtest.Connect(t, hub, pid, dn)
	s, stop := start(t, dev, shadow.Config{}, nil)
	_, err := s.Report(ctxT(t), map[string]any{"target": 18})
	require.NoError(t, err)
	stop()
	dev.Stop()
	require.Eventually(t, func() bool { return !hub.Status(pid, dn).Connected }, wait, 10*time.Millisecond)

	admin := hubsim.NewClient(hub.AdminURL())
	_, err = admin.SetDesired(ctxT(t), pid, dn, raw(t, `{"target":23}`), false)
	require.NoError(t, err)

	// "Restart iotd": a new uplink, bus and shadow for the same identity.
	dev2 := hubtest.ConnectAs(t, hub, dev.Info)
	h := newHandled()
	var watch <-chan shadow.Delta
	s2, _ := start(t, dev2, shadow.Config{}, func(s *shadow.Shadow) {
		require.NoError(t, s.Register("target", h.handler))
		watch = s.Watch(t.Context())
	})
	assert.Equal(t, "23", h.next(t))
	select {
	case d := <-watch:
		assert.Equal(t, "get", d.Source)
		assert.Equal(t, json.RawMessage("23"), d.State["target"])
	case <-time.After(wait):
		t.Fatal("no delta on the watch channel")
	}
	waitDesiredCleared(t, hub, pid, dn, "target", "23")
	assert.Equal(t, uint64(1), s2.Stats().DeltasApplied)
}

func TestDeltaPushedWhileReconnectingIsNotLost(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	const pid, dn = "PSHD000003", "dev1"
	dev := hubtest.Connect(t, hub, pid, dn)
	h := newHandled()
	s, _ := start(t, dev, shadow.Config{}, func(s *shadow.Shadow) { require.NoError(t, s.Register("mode", h.handler)) })
	_, err := s.Get(ctxT(t))
	require.NoError(t, err)

	// A live delta is pushed and applied.
	admin := hubsim.NewClient(hub.AdminURL())
	_, err = admin.SetDesired(ctxT(t), pid, dn, raw(t, `{"mode":"eco"}`), false)
	require.NoError(t, err)
	assert.Equal(t, `"eco"`, h.next(t))
	waitDesiredCleared(t, hub, pid, dn, "mode", `"eco"`)

	// Another client takes the device's session over: the uplink is kicked
	// and reconnects. The delta sent meanwhile finds no subscriber.
	// Dials are held, so the change certainly happens while the device is
	// offline and only the read after reconnecting can bring it.
	release := dev.HoldDials()
	kickOut(t, hub, dev)
	require.Eventually(t, func() bool { return !dev.Connected() }, wait, 5*time.Millisecond)
	_, err = admin.SetDesired(ctxT(t), pid, dn, raw(t, `{"mode":"boost"}`), false)
	require.NoError(t, err)
	release()
	assert.Equal(t, `"boost"`, h.next(t))
	waitDesiredCleared(t, hub, pid, dn, "mode", `"boost"`)
}

func TestVersionConflictIsResolved(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	const pid, dn = "PSHD000004", "dev1"
	dev := hubtest.Connect(t, hub, pid, dn)
	var watch <-chan shadow.Delta
	s, _ := start(t, dev, shadow.Config{ManualDesired: true}, func(s *shadow.Shadow) { watch = s.Watch(t.Context()) })
	ctx := ctxT(t)
	_, err := s.Get(ctx)
	require.NoError(t, err)

	admin := hubsim.NewClient(hub.AdminURL())
	v, err := admin.SetDesired(ctx, pid, dn, raw(t, `{"light":1}`), false)
	require.NoError(t, err)
	select {
	case d := <-watch:
		assert.Equal(t, v.Version, d.Version)
	case <-ctx.Done():
		t.Fatal("delta not received")
	}
	require.Equal(t, v.Version, s.Document().Version)

	// The console changes reported: the hub's version moves on, silently.
	v, err = admin.SetReported(ctx, pid, dn, raw(t, `{"other":2}`))
	require.NoError(t, err)
	require.Greater(t, v.Version, s.Document().Version)

	doc, err := s.ReportAndClearDesired(ctx, map[string]any{"light": 1})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), s.Stats().Conflicts)
	assert.Empty(t, doc.Desired)
	assert.JSONEq(t, `{"light":1,"other":2}`, jsonOf(t, doc.Reported))

	v, err = admin.Shadow(ctx, pid, dn)
	require.NoError(t, err)
	assert.Empty(t, v.Desired)
	assert.Equal(t, v.Version, s.Document().Version)
}

// silentUplink serves the uplink's bus protocol, accepting every publish and
// subscription, and never answers a request: a hub that does not reply.
func silentUplink(t *testing.T) *bus.Bus {
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	pubs, err := b.Subscribe(ctx, bus.TopicUplinkPublish)
	require.NoError(t, err)
	subs, err := b.Subscribe(ctx, bus.TopicUplinkSubscribe)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m *message.Message
			var ok bool
			select {
			case m, ok = <-pubs:
			case m, ok = <-subs:
			}
			if !ok {
				return
			}
			m.Ack()
			_ = b.Reply(m, nil)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = b.Close()
	})
	return b
}

func TestMaxPendingAndTimeouts(t *testing.T) {
	b := silentUplink(t)
	s, err := shadow.New(shadow.Config{MaxPending: 2, Timeout: time.Second}, b, "PSHD000005", "dev1", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		assert.NoError(t, <-done)
	}()

	// Run's own first read is one outstanding request (token 0); one more
	// reaches the limit of 2, and a third is refused at once.
	require.Eventually(t, func() bool { return s.Stats().Requests == 1 }, wait, time.Millisecond)
	errs := make(chan error, 1)
	s.UpdateAsync(shadow.Update{Reported: map[string]any{"a": 1}}, func(_ shadow.Document, err error) { errs <- err })
	require.Eventually(t, func() bool { return s.Stats().Requests == 2 }, wait, time.Millisecond)
	_, err = s.Get(context.Background())
	require.ErrorIs(t, err, shadow.ErrBusy)
	assert.Contains(t, err.Error(), "the limit is 2")
	assert.GreaterOrEqual(t, s.Stats().Busy, uint64(1))

	err = <-errs
	require.ErrorIs(t, err, shadow.ErrTimeout)
	assert.Contains(t, err.Error(), "update request PSHD000005-1 got no result")
	assert.Contains(t, err.Error(), "$shadow/operation/result/PSHD000005/dev1")
	assert.GreaterOrEqual(t, s.Stats().Timeouts, uint64(1))
}

func TestBadInputIsCountedAndHarmless(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	const pid, dn = "PSHD000006", "dev1"
	dev := hubtest.Connect(t, hub, pid, dn)
	h := newHandled()
	s, _ := start(t, dev, shadow.Config{}, func(s *shadow.Shadow) { require.NoError(t, s.Register("known", h.handler)) })
	ctx := ctxT(t)
	doc, err := s.Get(ctx)
	require.NoError(t, err)
	result := "$shadow/operation/result/" + pid + "/" + dn
	big := `{"type":"delta","payload":{"state":{"known":"` + strings.Repeat("x", shadow.MaxDocumentBytes) + `"},"version":999}}`

	tests := []struct {
		name    string
		payload string
		counter func(shadow.Stats) uint64
	}{
		{"malformed JSON", `{"type":"delta",`, func(st shadow.Stats) uint64 { return st.Malformed }},
		{"wrong types", `{"type":"get","result":"zero","clientToken":"x"}`, func(st shadow.Stats) uint64 { return st.Malformed }},
		{"unknown type", `{"type":"teleport","clientToken":"x"}`, func(st shadow.Stats) uint64 { return st.UnknownType }},
		{"too large", big, func(st shadow.Stats) uint64 { return st.TooLarge }},
		{"stale delta", fmt.Sprintf(`{"type":"delta","payload":{"state":{"known":1},"version":%d}}`, doc.Version),
			func(st shadow.Stats) uint64 { return st.Stale }},
		{"result for no request", `{"type":"update","result":0,"clientToken":"someone-else-1","payload":{"version":1}}`,
			func(st shadow.Stats) uint64 { return st.Orphaned }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.counter(s.Stats())
			// Sent while a report is outstanding: the report still succeeds.
			res := make(chan error, 1)
			s.UpdateAsync(shadow.Update{Reported: map[string]any{"probe": tt.name}}, func(_ shadow.Document, err error) { res <- err })
			require.NoError(t, hub.Publish(result, []byte(tt.payload), 0))
			require.Eventually(t, func() bool { return tt.counter(s.Stats()) == before+1 }, wait, 5*time.Millisecond)
			assert.NoError(t, <-res)
		})
	}

	t.Run("delta for an unregistered property", func(t *testing.T) {
		_, err := hubsim.NewClient(hub.AdminURL()).SetDesired(ctx, pid, dn, raw(t, `{"stranger":1,"known":"k"}`), false)
		require.NoError(t, err)
		assert.Equal(t, `"k"`, h.next(t))
		require.Eventually(t, func() bool { return s.Stats().Unregistered == 1 }, wait, 5*time.Millisecond)
		// Only the handled key is cleared from desired.
		waitDesiredCleared(t, hub, pid, dn, "known", `"k"`)
		v, err := hubsim.NewClient(hub.AdminURL()).Shadow(ctx, pid, dn)
		require.NoError(t, err)
		assert.Equal(t, json.RawMessage("1"), v.Desired["stranger"])
	})

	t.Run("oversized report refused before sending", func(t *testing.T) {
		_, err := s.Report(ctx, map[string]any{"blob": strings.Repeat("y", shadow.MaxDocumentBytes)})
		require.ErrorIs(t, err, shadow.ErrTooLarge)
		assert.Contains(t, err.Error(), "the hub's limit is 16384")
	})

	assert.Equal(t, []string{`"k"`}, h.values, "no bad message reached a handler")
	_, err = s.Get(ctx)
	assert.NoError(t, err)
}

func TestNoGoroutineLeak(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	const pid, dn = "PSHD000007", "dev1"
	dev := hubtest.Connect(t, hub, pid, dn)
	snap := leakcheck.Take()

	h := newHandled()
	s, stop := start(t, dev, shadow.Config{}, func(s *shadow.Shadow) { require.NoError(t, s.Register("x", h.handler)) })
	wctx, wcancel := context.WithCancel(context.Background())
	watch := s.Watch(wctx)
	_, err := hubsim.NewClient(hub.AdminURL()).SetDesired(ctxT(t), pid, dn, raw(t, `{"x":1}`), false)
	require.NoError(t, err)
	assert.Equal(t, "1", h.next(t))
	res := make(chan error, 1)
	s.GetAsync(func(_ shadow.Document, err error) { res <- err })
	require.NoError(t, <-res)
	waitDesiredCleared(t, hub, pid, dn, "x", "1")

	stop()
	wcancel()
	for range watch { // drain until closed
	}
	s.GetAsync(func(_ shadow.Document, err error) { res <- err })
	assert.ErrorIs(t, <-res, shadow.ErrNotRunning)
	// The admin client's keep-alive connection may be parked in the idle
	// pool only after its response was read: closed on every look.
	snap.Check(t, wait, http.DefaultClient.CloseIdleConnections)
}
