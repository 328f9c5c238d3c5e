//go:build iotd_nats

package bus

import (
	"context"
	"log/slog"

	"github.com/iotd/iotd/bus/natsbus"
)

// openRemote opens the backend cfg.Backend names.
func openRemote(cfg Config, log *slog.Logger) (Remote, error) {
	if cfg.Backend != "nats" {
		return nil, errBackend(cfg.Backend)
	}
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	return natsbus.Open(ctx, cfg.NATS, log)
}
