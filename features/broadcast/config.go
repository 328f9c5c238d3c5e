package broadcast

import (
	"errors"
	"fmt"

	"github.com/iotd/iotd/features/hook"
)

// DefaultQueue is the default hook queue length.
const DefaultQueue = 64

// Config configures broadcast reception. The zero value works: messages go
// to local subscribers only.
type Config struct {
	// Disabled turns the feature off (no subscription is made).
	Disabled bool `yaml:"disabled" json:"disabled"`
	// Hook is the command run for every message.
	Hook hook.Config `yaml:"hook" json:"hook"`
	// Queue bounds the messages waiting for the hook (default 64).
	Queue int `yaml:"queue" json:"queue"`
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if err := c.Hook.Validate(); err != nil {
		return fmt.Errorf("broadcast: %w", err)
	}
	if c.Queue < 0 || c.Queue > 100000 {
		return errors.New("broadcast: queue: use 1 to 100000 (0 means 64)")
	}
	return nil
}

// Enabled reports whether the feature is on (feature.Section).
func (c *Config) Enabled() bool { return !c.Disabled }

// Disable turns the feature off (feature.Section).
func (c *Config) Disable() { c.Disabled = true }
