package hook

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of a [Config].
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxOutput   = 64 << 10
	DefaultConcurrency = 4
)

// Config configures a hook command. The zero value is a disabled hook.
type Config struct {
	// Command is the argv to execute, e.g. ["/usr/local/bin/on-rrpc", "-v"].
	// It is not run through a shell. Empty disables the hook.
	Command []string `yaml:"command" json:"command"`
	// Dir is the working directory ("" is iotd's).
	Dir string `yaml:"dir" json:"dir"`
	// Timeout bounds one run, waiting for a free slot excluded (default 10s).
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// MaxOutput bounds stdout in bytes (default 64 KiB); more is an error.
	MaxOutput int `yaml:"max_output" json:"max_output"`
	// Concurrency is how many runs may be in progress at once (default 4).
	Concurrency int `yaml:"concurrency" json:"concurrency"`
}

// Enabled reports whether a command is configured.
func (c Config) Enabled() bool { return len(c.Command) > 0 }

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if len(c.Command) > 0 && c.Command[0] == "" {
		return errors.New("hook: command: the program (first element) is empty; give a path such as /usr/local/bin/handler")
	}
	if c.Timeout < 0 {
		return errors.New("hook: timeout: must not be negative")
	}
	if c.MaxOutput < 0 {
		return errors.New("hook: max_output: must not be negative")
	}
	if c.Concurrency < 0 || c.Concurrency > 1024 {
		return fmt.Errorf("hook: concurrency: %d, use 1 to 1024 (0 means %d)", c.Concurrency, DefaultConcurrency)
	}
	return nil
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}
