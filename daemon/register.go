package daemon

import (
	"context"
	"log/slog"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/device"
)

// Register registers the device of cfg with the hub when its
// device_info.json asks for it; see [device.Register]. The daemon's
// command line calls it before New.
func Register(ctx context.Context, cfg *Config, reg *core.Registry, log *slog.Logger) (bool, error) {
	return device.Register(ctx, &cfg.Config, reg, log)
}
