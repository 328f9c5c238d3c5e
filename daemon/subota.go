package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/iotd/iotd/features/gateway"
	"github.com/iotd/iotd/features/ota"
)

// subOTA runs an OTA feature for each sub-device listed in
// features.sub_device_ota while it is online through this gateway: started
// when it comes online (so its version is reported then), stopped when it
// goes offline. Its state lives in {state_dir}/sub/{pid}_{dn}.
type subOTA struct {
	mu      sync.Mutex // guards running
	running map[gateway.Ref]*subOTAInstance
}

type subOTAInstance struct {
	ota    *ota.OTA
	cancel context.CancelFunc
	done   chan struct{}
}

// subOTAPoll is how often the gateway's sub-device states are looked at.
const subOTAPoll = 250 * time.Millisecond

func (d *Daemon) runSubOTA(ctx context.Context) error {
	configs := map[gateway.Ref]ota.Config{}
	for name, cfg := range d.cfg.Features.SubDeviceOTA {
		ref, err := gateway.ParseRef(name)
		if err != nil {
			return fmt.Errorf("features.sub_device_ota: %w", err)
		}
		configs[ref] = cfg
	}
	if len(configs) == 0 {
		<-ctx.Done()
		return nil
	}
	d.subOTA.mu.Lock()
	d.subOTA.running = map[gateway.Ref]*subOTAInstance{}
	d.subOTA.mu.Unlock()
	defer d.stopSubOTA(func(gateway.Ref) bool { return true })
	tick := time.NewTicker(subOTAPoll)
	defer tick.Stop()
	for {
		online := map[gateway.Ref]bool{}
		for _, s := range d.gateway.List() {
			online[s.Ref] = s.State == gateway.StateOnline
		}
		d.stopSubOTA(func(r gateway.Ref) bool { return !online[r] })
		for ref, cfg := range configs {
			if online[ref] {
				d.startSubOTA(ctx, ref, cfg)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (d *Daemon) startSubOTA(ctx context.Context, ref gateway.Ref, cfg ota.Config) {
	d.subOTA.mu.Lock()
	defer d.subOTA.mu.Unlock()
	if _, ok := d.subOTA.running[ref]; ok {
		return
	}
	dir := filepath.Join(d.cfg.StateDirPath(), "sub", ref.ProductID+"_"+ref.DeviceName)
	o, err := d.newOTAFor(cfg, "features.sub_device_ota."+ref.String(), ref.ProductID, ref.DeviceName, dir)
	if err != nil {
		d.log.Error("OTA for a sub-device not started", "sub_device", ref.String(), "err", err)
		return
	}
	ictx, cancel := context.WithCancel(ctx)
	inst := &subOTAInstance{ota: o, cancel: cancel, done: make(chan struct{})}
	d.subOTA.running[ref] = inst
	go func() {
		defer close(inst.done)
		if err := o.Run(ictx); err != nil {
			d.log.Error("OTA for a sub-device stopped", "sub_device", ref.String(), "err", err)
		}
	}()
}

// stopSubOTA stops the instances whose sub-device matches and waits for them.
func (d *Daemon) stopSubOTA(match func(gateway.Ref) bool) {
	d.subOTA.mu.Lock()
	var stopping []*subOTAInstance
	for ref, inst := range d.subOTA.running {
		if match(ref) {
			inst.cancel()
			stopping = append(stopping, inst)
			delete(d.subOTA.running, ref)
		}
	}
	d.subOTA.mu.Unlock()
	for _, inst := range stopping {
		<-inst.done
	}
}

// subOTAStatus returns the status of the sub-devices' OTA features running now.
func (d *Daemon) subOTAStatus() map[string]ota.Status {
	d.subOTA.mu.Lock()
	defer d.subOTA.mu.Unlock()
	if len(d.subOTA.running) == 0 {
		return nil
	}
	out := make(map[string]ota.Status, len(d.subOTA.running))
	for ref, inst := range d.subOTA.running {
		out[ref.String()] = inst.ota.Status()
	}
	return out
}
