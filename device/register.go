package device

import "github.com/iotd/iotd/core/dynreg"

// RegistrationConfig configures dynamic registration (PROTOCOL.md §3.1):
// a device_info.json with a product id, a device name and a product secret
// but no device secret (or certificate) is registered with the hub before
// the first connection (daemon.Register does it).
type RegistrationConfig struct {
	dynreg.Config `yaml:",inline"`
	// Driver is the stream driver HTTP goes through (default "tcp"; a modem
	// driver on boards without other networking).
	Driver string `yaml:"driver"`
	// CAFile holds the roots that verify an https endpoint (empty: the
	// system's roots and the public CAs bundled with iotd).
	CAFile string `yaml:"ca_file"`
}
