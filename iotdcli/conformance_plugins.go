//go:build !iotd_omit_plugins

package iotdcli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins"
)

// "iotd conformance --plugin PATH" launches the binary through the plugin
// host exactly as the daemon does; the *plugins.Plugin is the suite's
// Lifecycle hook, so the P cases (kill, restart, redial) run.
func init() { pluginOpener = openPlugin }

func openPlugin(ctx context.Context, path, name string) (driver.Driver, conformance.Lifecycle, func() error, error) {
	// The host logs every kill of the P cases as an error; the verdict
	// and the cases' failures say what matters.
	p, err := plugins.Load(ctx, path, plugins.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, nil, err
	}
	ds := p.Drivers()
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Name()
		if d.Name() == name || (name == "" && len(ds) == 1) {
			return d, p, p.Close, nil
		}
	}
	_ = p.Close()
	if name == "" {
		return nil, nil, nil, fmt.Errorf("the plugin serves %d drivers (%s): name one with --driver", len(ds), strings.Join(names, ", "))
	}
	return nil, nil, nil, fmt.Errorf("the plugin serves no driver %q (it serves: %s)", name, strings.Join(names, ", "))
}
