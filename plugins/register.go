package plugins

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
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

// LoadDriver loads the plugin at path and returns its driver called name,
// or its only driver when name is "". It is what `iotd conformance --plugin`
// needs: the driver, and the Plugin as the suite's Lifecycle hook (Kill,
// Restarted) and closer. On error nothing is left running.
func LoadDriver(ctx context.Context, path, name string, opts Options) (driver.Driver, *Plugin, error) {
	p, err := Load(ctx, path, opts)
	if err != nil {
		return nil, nil, err
	}
	names := p.driverNames()
	for _, d := range p.drivers {
		if d.info.Name == name || (name == "" && len(p.drivers) == 1) {
			return d, p, nil
		}
	}
	_ = p.Close()
	if name == "" {
		return nil, nil, fmt.Errorf("plugins: %s serves %d drivers (%s); name one", path, len(names), strings.Join(names, ", "))
	}
	return nil, nil, fmt.Errorf("plugins: %s serves no driver %q; it serves %s", path, name, strings.Join(names, ", "))
}
