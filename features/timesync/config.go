package timesync

import (
	"errors"
	"time"
)

// Config configures time sync. The zero value works.
type Config struct {
	// Disabled turns the feature off.
	Disabled bool `yaml:"disabled" json:"disabled"`
	// Interval between periodic syncs (default 1h).
	Interval time.Duration `yaml:"interval" json:"interval"`
	// Timeout for one request/reply (default 10s).
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

func (c *Config) setDefaults() {
	if c.Interval == 0 {
		c.Interval = time.Hour
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < time.Second) {
		return errors.New("timesync: interval: must be at least 1s")
	}
	if c.Timeout < 0 {
		return errors.New("timesync: timeout: must not be negative")
	}
	return nil
}

// Enabled reports whether the feature is on (feature.Section).
func (c *Config) Enabled() bool { return !c.Disabled }

// Disable turns the feature off (feature.Section).
func (c *Config) Disable() { c.Disabled = true }
