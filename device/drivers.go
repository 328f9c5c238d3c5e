package device

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/iotd/iotd/core"
)

// The drivers section configures a driver once for every use iotd makes of
// it: the link, HTTP for OTA, log upload and registration, and the carrier
// under the tls driver ("over"). An AT modem is the usual case: its port and
// APN are written once, and every connection opens a socket on that modem.

// resolveFiles copies m, resolving relative paths in keys ending in "_file"
// against the configuration file's directory, recursively.
func (c *Config) resolveFiles(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case string:
			if strings.HasSuffix(k, "_file") {
				v = c.Path(x)
			}
		case map[string]any:
			v = c.resolveFiles(x)
		}
		out[k] = v
	}
	return out
}

// driverSettings is the drivers section's entry for name, resolved, or nil.
func (c *Config) driverSettings(name string) map[string]any {
	m, ok := c.Drivers[name]
	if !ok {
		return nil
	}
	return c.resolveFiles(m)
}

// driverJSON is the JSON configuration iotd opens driver name with outside
// the link (HTTP): its drivers entry, or nil for the driver's defaults.
func (c *Config) driverJSON(name string) ([]byte, error) {
	m := c.driverSettings(name)
	if m == nil {
		return nil, nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, &core.ConfigError{Source: "config", Field: "drivers." + name, Msg: err.Error()}
	}
	return raw, nil
}

func (c *Config) validateDrivers() error {
	for name := range c.Drivers {
		if name == "" || strings.ContainsAny(name, " \t/") {
			return &core.ConfigError{Source: "config", Field: "drivers", Msg: fmt.Sprintf("%q is not a driver name (`iotd drivers` lists them)", name)}
		}
	}
	return nil
}
