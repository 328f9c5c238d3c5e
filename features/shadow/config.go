package shadow

import (
	"errors"
	"time"
)

// Config configures the shadow feature. The zero value works.
type Config struct {
	// Disabled turns the feature off.
	Disabled bool `yaml:"disabled" json:"disabled"`
	// Timeout is how long one request waits for its result (default 5s).
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// MaxPending bounds the requests waiting for a result (default 10, as
	// the C SDK).
	MaxPending int `yaml:"max_pending" json:"max_pending"`
	// ManualDesired leaves reporting and clearing desired state to the
	// application after a delta; by default the shadow does it.
	ManualDesired bool `yaml:"manual_desired" json:"manual_desired"`
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.MaxPending == 0 {
		c.MaxPending = 10
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Timeout < 0 || (c.Timeout > 0 && c.Timeout < 10*time.Millisecond) {
		return errors.New("shadow: timeout: must be at least 10ms (default 5s)")
	}
	if c.MaxPending < 0 || c.MaxPending > 1000 {
		return errors.New("shadow: max_pending: must be between 1 and 1000 (default 10)")
	}
	return nil
}

// Enabled reports whether the feature is on (feature.Section).
func (c *Config) Enabled() bool { return !c.Disabled }

// Disable turns the feature off (feature.Section).
func (c *Config) Disable() { c.Disabled = true }
