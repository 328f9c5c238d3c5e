package feature

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The package's tests use throwaway modules of their own. The modules
// DecodeConfig, ValidateSections and Unmet work on are arguments, so most
// tests need no registry at all; those of Register, Modules and Lookup
// swap in a fresh registry with useRegistry, so that nothing they register
// reaches another test (or the real features, which this package's tests
// do not link).

// useRegistry makes a fresh, empty registry the package's for the rest of
// t, registers mods in it, and puts the real one back when t ends. Tests
// that use it must not run in parallel.
func useRegistry(t testing.TB, mods ...Module) {
	t.Helper()
	old := std
	std = &registry{modules: map[string]Module{}}
	t.Cleanup(func() { std = old })
	for _, m := range mods {
		Register(m)
	}
}

// onSection is a section that is on unless `enabled: false`: the default
// of most features.
type onSection struct {
	On       *bool         `yaml:"enabled"`
	Interval time.Duration `yaml:"interval"`
	Count    int           `yaml:"count"`
	Hook     struct {
		Command []string `yaml:"command"`
	} `yaml:"hook"`
	off bool
}

func (s *onSection) Enabled() bool { return !s.off && (s.On == nil || *s.On) }
func (s *onSection) Disable()      { s.off = true }
func (s *onSection) Validate() error {
	if s.Count < 0 {
		return errors.New("count must not be negative")
	}
	return nil
}

// offSection is a section that is off unless `enabled: true` (log upload's
// kind).
type offSection struct {
	On  bool   `yaml:"enabled"`
	URL string `yaml:"url"`
}

func (s *offSection) Enabled() bool { return s.On }
func (s *offSection) Disable()      { s.On = false }
func (s *offSection) Validate() error {
	if s.On && s.URL == "" {
		return errors.New("url is required")
	}
	return nil
}

type nopFeature struct{}

func (nopFeature) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func newNop(Section, *Env) (Feature, error) { return nopFeature{}, nil }

// testModule is a module named name whose section is an onSection.
func testModule(name string, needs Needs) Module {
	return Module{Name: name, Config: func() Section { return &onSection{} }, Needs: needs, New: newNop}
}

// offModule is a module named name whose section is an offSection.
func offModule(name string) Module {
	return Module{Name: name, Config: func() Section { return &offSection{} }, New: newNop}
}

// testBase stands for the daemon's own configuration.
type testBase struct {
	DeviceInfo string `yaml:"device_info"`
	Log        struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
	Features map[string]Section `yaml:"-"`
}

// testMods are the modules of the decoding tests: alpha (on by default,
// needs downlink), beta (off by default), gamma (needs the host network).
func testMods() []Module {
	return []Module{testModule("alpha", Needs{Downlink: true}), offModule("beta"), testModule("gamma", Needs{HostNetwork: true})}
}
