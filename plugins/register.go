package plugins

import (
	"errors"
	"fmt"

	"github.com/iotd/iotd/core"
)

// Register registers the drivers of every plugin in reg under the names the
// plugins declare; to reg's users they are like built-in drivers. It stops
// at the first failure, a name already taken (by a built-in driver or
// another plugin) for instance, and returns an error naming the driver, the
// plugin and the fix; drivers registered before it stay registered.
func Register(reg *core.Registry, ps ...*Plugin) error {
	if reg == nil {
		return errors.New("plugins: register: nil registry")
	}
	for _, p := range ps {
		for _, d := range p.drivers {
			if _, err := reg.Driver(d.info.Name); err == nil {
				return fmt.Errorf("plugins: register: plugin %s serves driver %q, but a driver of that name is already registered; remove one of them or rename the plugin's driver", p.path, d.info.Name)
			}
			if err := reg.Register(d); err != nil {
				return fmt.Errorf("plugins: register driver %q of plugin %s: %w", d.info.Name, p.path, err)
			}
		}
	}
	return nil
}
