package device

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/dynreg"
	"github.com/iotd/iotd/core/hub"
)

// RegistrationConfig configures dynamic registration (PROTOCOL.md §3.1):
// a device_info.json with a product id, a device name and a product secret
// but no device secret (or certificate) is registered with the hub before
// the first connection ([Register] does it; the daemon calls it at start).
type RegistrationConfig struct {
	dynreg.Config `yaml:",inline"`
	// Driver is the stream driver HTTP goes through (default "tcp"; a modem
	// driver on boards without other networking).
	Driver string `yaml:"driver"`
	// CAFile holds the roots that verify an https endpoint (empty: the
	// system's roots and the public CAs bundled with iotd).
	CAFile string `yaml:"ca_file"`
}

// httpClient returns an HTTP client whose connections go through the named
// stream driver, verifying https servers against caFile (or the system).
func httpClient(reg *core.Registry, cfg *Config, driverName, caFile string, timeout time.Duration) (*http.Client, error) {
	if driverName == "" {
		driverName = "tcp"
	}
	tlsConf, err := hub.ServiceTLS(caFile)
	if err != nil {
		return nil, &core.ConfigError{Source: "config", Field: "ca_file", Msg: err.Error()}
	}
	dc, err := cfg.driverJSON(driverName)
	if err != nil {
		return nil, err
	}
	tr, err := reg.HTTPTransport(driverName, dc, tlsConf)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// Register registers the device of cfg with the hub when its
// device_info.json asks for it (product secret, no device credentials),
// writing the result into the file atomically. It reports whether it
// registered; a device that already has credentials is left alone, so a
// second start does not register again.
func Register(ctx context.Context, cfg *Config, reg *core.Registry, log *slog.Logger) (bool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rc := cfg.Registration
	f, err := dynreg.Load(cfg.DeviceInfoPath())
	if err != nil {
		return false, err
	}
	if !dynreg.NeedsRegistration(f.Info) {
		return false, nil
	}
	if rc.URL == "" {
		region, err := cfg.region(f.Info)
		if err != nil {
			return false, err
		}
		rc.URL = region.RegistrationURL
	}
	client, err := httpClient(reg, cfg, rc.Driver, cfg.Path(rc.CAFile), 0)
	if err != nil {
		return false, err
	}
	log.Info("registering the device with the hub", "device", f.Info.ClientID(), "url", endpointOf(rc.Config))
	info, registered, err := dynreg.RegisterFile(ctx, rc.Config, client, cfg.DeviceInfoPath(), time.Now)
	if err != nil {
		return false, fmt.Errorf("register %s: %w", cfg.DeviceInfoPath(), err)
	}
	if registered {
		log.Info("device registered; credentials written", "device", info.ClientID(), "auth", info.AuthMode, "file", cfg.DeviceInfoPath())
	}
	return registered, nil
}

func endpointOf(c dynreg.Config) string {
	if c.URL == "" {
		return dynreg.DefaultURL
	}
	return c.URL
}
