package shadow

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// The shadow module: features.shadow, the /v1/shadow routes (api.go), the
// "shadow" status section. It runs the device's shadow and, for a gateway,
// a shadow per sub-device on first use (?device=PRODUCT/DEVICE): a
// sub-device's shadow is reached through the gateway's connection while
// the sub-device is online, which the module learns from the gateway's
// bus.TopicSubDevices events.
func init() {
	feature.Register(feature.Module{
		Name:   "shadow",
		Config: func() feature.Section { return &Config{} },
		Needs:  feature.Needs{Downlink: true},
		New:    newModule,
	})
}

// module is the shadow feature as the daemon runs it.
type module struct {
	cfg Config
	env *feature.Env
	own *Shadow

	online *bus.SubDeviceFollower

	mu   sync.Mutex // guards everything below
	subs map[bus.DeviceRef]*Shadow
	ctx  context.Context // Run's; nil before Run and after it returned
	wg   sync.WaitGroup  // the sub-devices' shadows
}

func newModule(sec feature.Section, env *feature.Env) (feature.Feature, error) {
	cfg := *sec.(*Config)
	own, err := New(cfg, env.Bus, env.Device.ProductID, env.Device.DeviceName, env.Log)
	if err != nil {
		return nil, err
	}
	return &module{cfg: cfg, env: env, own: own, online: env.Bus.FollowSubDevices(), subs: map[bus.DeviceRef]*Shadow{}}, nil
}

// Run runs the device's shadow, follows the sub-devices online and runs
// their shadows once asked for, until ctx ends.
func (m *module) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	// The sub-devices are followed without a goroutine of their own.
	watched, _ := m.online.Start(ctx) // fails only when the bus is closed
	err := m.own.Run(ctx)
	cancel()
	m.mu.Lock()
	m.ctx = nil
	m.mu.Unlock()
	if watched != nil {
		<-watched
	}
	m.wg.Wait()
	return err
}

// shadowFor returns the shadow of the device named by the request's
// "device" parameter (PRODUCT/DEVICE): the device's own when it is empty
// or names this device, else an online sub-device's.
func (m *module) shadowFor(r *http.Request) (*Shadow, error) {
	name := r.URL.Query().Get("device")
	if name == "" || name == m.env.Device.ProductID+"/"+m.env.Device.DeviceName {
		return m.own, nil
	}
	ref, err := feature.ParseDevice(name)
	if err != nil {
		return nil, err
	}
	if !m.online.Online(r.Context(), ref) {
		return nil, fmt.Errorf("shadow: %s is not an online sub-device of this gateway (iotd gateway online %s)", ref, ref)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.subs[ref]; ok {
		return s, nil
	}
	if m.ctx == nil {
		return nil, fmt.Errorf("shadow: the daemon is not running")
	}
	s, err := New(m.cfg, m.env.Bus, ref.ProductID, ref.DeviceName, m.env.Log.With("sub_device", ref.String()))
	if err != nil {
		return nil, err
	}
	m.subs[ref] = s
	ctx := m.ctx
	m.wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			m.env.Log.Error("shadow of a sub-device stopped", "sub_device", ref.String(), "err", err)
		}
	})
	return s, nil
}

// Status is the "shadow" section of the daemon's status, the device's own
// shadow's counters (feature.Reporter).
func (m *module) Status() any { return localapi.ShadowStats(m.own.Stats()) }
