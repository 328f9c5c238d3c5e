package ota

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// SubDeviceConfigs is features.sub_device_ota: OTA for a gateway's
// sub-devices, keyed by "PRODUCT/DEVICE". It is on when it names one.
type SubDeviceConfigs map[string]Config

// Enabled reports whether any sub-device is configured (feature.Section).
func (c *SubDeviceConfigs) Enabled() bool { return len(*c) > 0 }

// Disable drops every sub-device (feature.Section).
func (c *SubDeviceConfigs) Disable() { *c = nil }

// Validate checks each key names a sub-device and each section.
func (c *SubDeviceConfigs) Validate() error {
	for name, oc := range *c {
		if _, err := feature.ParseDevice(name); err != nil {
			return err
		}
		if err := oc.Validate(); err != nil {
			return &core.ConfigError{Field: name, Msg: err.Error()}
		}
	}
	return nil
}

// subModule runs an OTA feature for each configured sub-device while it is
// online through this gateway: started when it comes online (so its
// version is reported then), stopped when it goes offline, following the
// gateway's bus.TopicSubDevices events. Its state lives in
// {state_dir}/sub/{pid}_{dn}.
type subModule struct {
	configs map[bus.DeviceRef]Config
	env     *feature.Env

	mu      sync.Mutex // guards running
	running map[bus.DeviceRef]*subInstance
}

type subInstance struct {
	ota    *OTA
	cancel context.CancelFunc
	done   chan struct{}
}

func newSubModule(sec feature.Section, env *feature.Env) (feature.Feature, error) {
	m := &subModule{configs: map[bus.DeviceRef]Config{}, env: env, running: map[bus.DeviceRef]*subInstance{}}
	for name, cfg := range *sec.(*SubDeviceConfigs) {
		ref, err := feature.ParseDevice(name)
		if err != nil {
			return nil, fmt.Errorf("features.sub_device_ota: %w", err)
		}
		m.configs[ref] = cfg
	}
	return m, nil
}

// Idle reports that Run would only wait for ctx: no sub-device has an OTA
// section. Package device then does not start it (a goroutine per device
// in a fleet of thousands).
func (m *subModule) Idle() bool { return len(m.configs) == 0 }

// Run follows the sub-devices online until ctx ends, then stops every
// instance and waits for them.
func (m *subModule) Run(ctx context.Context) error {
	if len(m.configs) == 0 {
		<-ctx.Done()
		return nil
	}
	defer m.stop(func(bus.DeviceRef) bool { return true })
	return m.env.Bus.WatchSubDevices(ctx, func(s bus.SubDevices) {
		m.stop(func(r bus.DeviceRef) bool { return !s.Has(r) })
		for ref, cfg := range m.configs {
			if s.Has(ref) {
				m.start(ctx, ref, cfg)
			}
		}
	})
}

func (m *subModule) start(ctx context.Context, ref bus.DeviceRef, cfg Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.running[ref]; ok {
		return
	}
	dir := filepath.Join(m.env.StateDir, "sub", ref.ProductID+"_"+ref.DeviceName)
	o, err := build(cfg, "features.sub_device_ota."+ref.String(), ref.ProductID, ref.DeviceName, dir, m.env)
	if err != nil {
		m.env.Log.Error("OTA for a sub-device not started", "sub_device", ref.String(), "err", err)
		return
	}
	ictx, cancel := context.WithCancel(ctx)
	inst := &subInstance{ota: o, cancel: cancel, done: make(chan struct{})}
	m.running[ref] = inst
	go func() {
		defer close(inst.done)
		if err := o.Run(ictx); err != nil {
			m.env.Log.Error("OTA for a sub-device stopped", "sub_device", ref.String(), "err", err)
		}
	}()
}

// stop stops the instances whose sub-device matches and waits for them.
func (m *subModule) stop(match func(bus.DeviceRef) bool) {
	m.mu.Lock()
	var stopping []*subInstance
	for ref, inst := range m.running {
		if match(ref) {
			inst.cancel()
			stopping = append(stopping, inst)
			delete(m.running, ref)
		}
	}
	m.mu.Unlock()
	for _, inst := range stopping {
		<-inst.done
	}
}

// Status is the "sub_device_ota" section of the daemon's status: the
// state of each instance running now, by "PRODUCT/DEVICE"; nil when none
// runs (feature.Reporter).
func (m *subModule) Status() any {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.running) == 0 {
		return nil
	}
	out := make(map[string]localapi.OTAStatus, len(m.running))
	for ref, inst := range m.running {
		out[ref.String()] = statusToWire(inst.ota.Status())
	}
	return out
}
