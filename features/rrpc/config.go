package rrpc

import (
	"errors"
	"fmt"
	"time"

	"github.com/iotd/iotd/features/hook"
)

// Defaults of a [Config].
const (
	DefaultReplyTimeout = 10 * time.Second
	DefaultMaxPending   = 64
)

// Config configures RRPC. The zero value works: requests go to local
// subscribers only.
type Config struct {
	// Disabled turns the feature off (no subscription is made).
	Disabled bool `yaml:"disabled" json:"disabled"`
	// Hook is the command run for every request; its stdout is the reply.
	// Its timeout is further bounded by ReplyTimeout.
	Hook hook.Config `yaml:"hook" json:"hook"`
	// ReplyTimeout is how long a request waits for a reply before it is
	// forgotten (default 10s). The hub's caller usually waits less (5s).
	ReplyTimeout time.Duration `yaml:"reply_timeout" json:"reply_timeout"`
	// MaxPending bounds the requests waiting for a reply (default 64);
	// requests beyond it are dropped and counted.
	MaxPending int `yaml:"max_pending" json:"max_pending"`
}

func (c *Config) setDefaults() {
	if c.ReplyTimeout == 0 {
		c.ReplyTimeout = DefaultReplyTimeout
	}
	if c.MaxPending == 0 {
		c.MaxPending = DefaultMaxPending
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if err := c.Hook.Validate(); err != nil {
		return fmt.Errorf("rrpc: %w", err)
	}
	if c.ReplyTimeout < 0 {
		return errors.New("rrpc: reply_timeout: must not be negative")
	}
	if c.MaxPending < 0 || c.MaxPending > 10000 {
		return fmt.Errorf("rrpc: max_pending: %d, use 1 to 10000 (0 means %d)", c.MaxPending, DefaultMaxPending)
	}
	return nil
}

// Enabled reports whether the feature is on (feature.Section).
func (c *Config) Enabled() bool { return !c.Disabled }

// Disable turns the feature off (feature.Section).
func (c *Config) Disable() { c.Disabled = true }
