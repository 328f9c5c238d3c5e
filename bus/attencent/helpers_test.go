package attencent_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/attencent"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

// guard bounds every wait for an event; it is no timing assertion.
const guard = 30 * time.Second

// rig is hubsim, an atsim module on a pty pointed at it, and the uplink
// driving the module, on a bus.
type rig struct {
	hub    *hubsim.Hub
	info   *core.DeviceInfo
	modem  *atsim.Modem
	bus    *bus.Bus
	up     *attencent.Uplink
	states *states
	ctx    context.Context
}

// startRig starts the module with dialect (tencent, or another to see a
// module without the TC firmware) and the uplink, and waits until the
// uplink serves the bus.
func startRig(t *testing.T, dialect string, faults ...atsim.Fault) *rig {
	t.Helper()
	hub := hubtest.StartHub(t, nil)
	info, err := hub.CreateDevice("TCPROD0001", "dev1", false)
	require.NoError(t, err)
	cas, err := hubtest.CAPool(hub)
	require.NoError(t, err)
	modem, err := atsim.Start(context.Background(), atsim.Config{Dialect: dialect, Faults: faults, Seed: 3,
		Tencent: atsim.TencentConfig{Broker: hub.TLSAddr(), RootCAs: cas}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = modem.Close() })

	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	st := recordStates(t, ctx, b)
	up, err := attencent.New(attencent.Config{
		Port: modem.Path(), SSID: "lab", WiFiPassword: "wifi-secret",
		// The defaults' 5 s: a module's data after its OK arrives at once,
		// but a loaded CI machine running the race detector delayed it
		// past 2 s (TestModuleOTAFragmented, twice).
		MQTTTimeout: 2 * time.Second, CommandTimeout: attencent.DefaultCommandTimeout,
		ProductID: info.ProductID, DeviceName: info.DeviceName, DeviceSecret: info.KeyDeviceInfo.DeviceSecret,
		Backoff: core.BackoffConfig{Initial: core.Duration(50 * time.Millisecond), Max: core.Duration(500 * time.Millisecond), Jitter: -1},
	}, b)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- up.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	<-up.Serving()
	return &rig{hub: hub, info: info, modem: modem, bus: b, up: up, states: st, ctx: ctx}
}

func (r *rig) topic(leaf string) string {
	return r.info.ProductID + "/" + r.info.DeviceName + "/" + leaf
}

// connected waits for the uplink to report "connected" for the n-th time.
func (r *rig) connected(t *testing.T, n int) {
	t.Helper()
	r.states.wait(t, linkstate.Connected, n)
	require.Eventually(t, func() bool { return r.hub.Status(r.info.ProductID, r.info.DeviceName).Connected }, guard, 10*time.Millisecond)
}

// hubGot waits for the hub to have received payload on topic.
func (r *rig) hubGot(t *testing.T, topic, payload string) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, m := range r.hub.Messages(r.info.ProductID, r.info.DeviceName) {
			if m.Topic == topic && m.Payload == payload {
				return true
			}
		}
		return false
	}, guard, 10*time.Millisecond, "the hub never got %q on %s", payload, topic)
}

// states records the link states published on the bus.
type states struct {
	mu   sync.Mutex
	seen []linkstate.State
	more chan struct{}
}

func recordStates(t *testing.T, ctx context.Context, b *bus.Bus) *states {
	t.Helper()
	ch, err := b.Subscribe(ctx, bus.TopicLinkState)
	require.NoError(t, err)
	s := &states{more: make(chan struct{}, 1)}
	go func() {
		for m := range ch {
			m.Ack()
			st, err := bus.DecodeLinkState(m)
			if err != nil {
				continue
			}
			s.mu.Lock()
			s.seen = append(s.seen, st)
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
		}
	}()
	return s
}

// count returns how many times state was reported, and the last report.
func (s *states) count(state linkstate.Status) (int, linkstate.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, last := 0, linkstate.State{}
	for _, st := range s.seen {
		if st.State == state {
			n++
			last = st
		}
	}
	return n, last
}

// wait waits until state was reported n times and returns the last report.
func (s *states) wait(t *testing.T, state linkstate.Status, n int) linkstate.State {
	t.Helper()
	deadline := time.After(guard)
	for {
		if c, last := s.count(state); c >= n {
			return last
		}
		select {
		case <-s.more:
		case <-deadline:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("waiting for state %q #%d; seen %+v", state, n, s.seen)
		}
	}
}

// next waits for the next message on ch.
func next(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m := <-ch:
		m.Ack()
		return m
	case <-time.After(guard):
		t.Fatal("no message arrived")
	}
	return nil
}
