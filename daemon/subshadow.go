package daemon

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/iotd/iotd/features/gateway"
	"github.com/iotd/iotd/features/shadow"
)

// subShadows runs a shadow per sub-device, on first use: a gateway's
// sub-devices have shadows of their own, reached through the gateway's
// connection once they are online.
type subShadows struct {
	mu    sync.Mutex // guards byRef and spawn
	byRef map[gateway.Ref]*shadow.Shadow
	// spawn runs a feature for the daemon's lifetime; nil before Run.
	spawn func(name string, run func(context.Context) error)
}

// shadowFor returns the shadow of the device named by the request's
// "device" parameter (PRODUCT/DEVICE): the daemon's own when it is empty or
// names this device, else an online sub-device's.
func (d *Daemon) shadowFor(r *http.Request) (*shadow.Shadow, error) {
	name := r.URL.Query().Get("device")
	if name == "" || name == d.device.ProductID+"/"+d.device.DeviceName {
		return d.shadow, nil
	}
	ref, err := gateway.ParseRef(name)
	if err != nil {
		return nil, err
	}
	online := false
	for _, sub := range d.gateway.List() {
		if sub.Ref == ref && sub.State == gateway.StateOnline {
			online = true
		}
	}
	if !online {
		return nil, fmt.Errorf("shadow: %s is not an online sub-device of this gateway (iotd gateway online %s)", ref, ref)
	}
	d.subs.mu.Lock()
	defer d.subs.mu.Unlock()
	if s, ok := d.subs.byRef[ref]; ok {
		return s, nil
	}
	if d.subs.spawn == nil {
		return nil, fmt.Errorf("shadow: the daemon is not running")
	}
	s, err := shadow.New(d.cfg.Features.Shadow, d.bus, ref.ProductID, ref.DeviceName, d.log.With("sub_device", ref.String()))
	if err != nil {
		return nil, err
	}
	if d.subs.byRef == nil {
		d.subs.byRef = map[gateway.Ref]*shadow.Shadow{}
	}
	d.subs.byRef[ref] = s
	d.subs.spawn("shadow "+ref.String(), s.Run)
	return s, nil
}
