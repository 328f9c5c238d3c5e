package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/device"
)

// Register registers each device of cfg with the hub whose
// device_info.json asks for it; see [device.Register]. It reports whether
// any was registered. The daemon's command line calls it before New.
func Register(ctx context.Context, cfg *Config, reg *core.Registry, log *slog.Logger) (bool, error) {
	registered := false
	for _, nd := range cfg.DeviceConfigs() {
		l := log
		if cfg.Devices != nil && l != nil {
			l = l.With("device", nd.Name)
		}
		done, err := device.Register(ctx, nd.Config, reg, l)
		if err != nil {
			if cfg.Devices != nil {
				err = fmt.Errorf("device %s: %w", nd.Name, err)
			}
			return registered, err
		}
		registered = registered || done
	}
	return registered, nil
}
