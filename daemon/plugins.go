package daemon

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/iotd/iotd/core"
)

// PluginsConfig says where out-of-tree driver plugins live. iotd launches
// every plugin binary in Dir (files named iotd-driver-*) at start, before it
// resolves link.driver, and registers the drivers they serve under the names
// the plugins declare, so link.driver can name them like a built-in.
type PluginsConfig struct {
	// Dir holds the plugin binaries; empty means no plugins.
	Dir string `yaml:"dir"`
	// Pins maps a plugin's file name to the SHA-256 (hex) its binary must
	// have; a mismatch refuses to start that plugin.
	Pins map[string]string `yaml:"pins"`
	// RequirePins refuses plugins that have no pin.
	RequirePins bool `yaml:"require_pins"`
	// StartTimeout bounds a plugin's launch and handshake (default 30s).
	StartTimeout time.Duration `yaml:"start_timeout"`
	// Env lists extra NAME=value variables for the plugins; they get no
	// other part of iotd's environment beyond PATH, HOME, TMPDIR, TZ, LANG.
	Env []string `yaml:"env"`
}

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func (p PluginsConfig) validate() *core.ConfigError {
	bad := func(field, msg string) *core.ConfigError {
		return &core.ConfigError{Source: "config", Field: "plugins." + field, Msg: msg}
	}
	for name, pin := range p.Pins {
		if !strings.HasPrefix(name, "iotd-driver-") {
			return bad("pins", fmt.Sprintf("%q: keys are plugin file names (iotd-driver-...)", name))
		}
		if !sha256Hex.MatchString(pin) {
			return bad("pins."+name, "must be a SHA-256 in hex (64 characters): `sha256sum FILE` prints it")
		}
	}
	if p.RequirePins && p.Dir == "" {
		return bad("require_pins", "set plugins.dir too")
	}
	if p.StartTimeout < 0 {
		return bad("start_timeout", "must not be negative")
	}
	for _, e := range p.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return bad("env", fmt.Sprintf("%q: use NAME=value", e))
		}
	}
	return nil
}

// PluginsDir is the resolved plugin directory ("" when none is set).
func (c *Config) PluginsDir() string { return c.Path(c.Plugins.Dir) }
