//go:build !iotd_nats

package bus

import (
	"errors"
	"log/slog"
)

// openRemote opens the backend cfg.Backend names: none in this build.
func openRemote(cfg Config, _ *slog.Logger) (Remote, error) {
	if cfg.Backend != "nats" {
		return nil, errBackend(cfg.Backend)
	}
	return nil, errors.New("bus.backend nats: this iotd was built without the NATS backend (build with -tags iotd_nats)")
}
