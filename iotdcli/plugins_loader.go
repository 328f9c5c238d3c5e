//go:build !iotd_omit_plugins

package iotdcli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/daemon"
	"github.com/iotd/iotd/plugins"
)

func init() { pluginLoader = loadPlugins }

// loadPlugins launches every plugin binary in the configured directory and
// registers its drivers in reg. The returned function closes them (killing
// their processes); it is never nil.
func loadPlugins(ctx context.Context, cfg daemon.PluginsConfig, dir string, reg *core.Registry, log *slog.Logger) (func(), error) {
	paths, err := plugins.Discover(dir)
	if err != nil {
		return func() {}, fmt.Errorf("plugins.dir: %w", err)
	}
	var loaded []*plugins.Plugin
	closeAll := func() {
		for _, p := range loaded {
			_ = p.Close()
		}
	}
	for _, path := range paths {
		name := filepath.Base(path)
		pin := cfg.Pins[name]
		if pin == "" && cfg.RequirePins {
			closeAll()
			return func() {}, fmt.Errorf("plugin %s has no pin and plugins.require_pins is on: add plugins.pins.%s (sha256sum %s)", path, name, path)
		}
		p, err := plugins.Load(ctx, path, plugins.Options{
			SHA256: pin, Logger: log, StartTimeout: cfg.StartTimeout, Env: cfg.Env,
		})
		if err != nil {
			closeAll()
			return func() {}, err
		}
		loaded = append(loaded, p)
		names := []string{}
		for _, d := range p.Drivers() {
			names = append(names, d.Name())
		}
		log.Info("plugin loaded", "plugin", name, "drivers", names, "pinned", pin != "")
	}
	if err := plugins.Register(reg, loaded...); err != nil {
		closeAll()
		return func() {}, err
	}
	for name := range cfg.Pins {
		if !slices.ContainsFunc(paths, func(p string) bool { return filepath.Base(p) == name }) {
			log.Warn("plugins.pins names a plugin that is not in plugins.dir", "plugin", name, "dir", dir)
		}
	}
	return closeAll, nil
}
