package ota

import (
	"errors"
	"fmt"
	"time"

	"github.com/iotd/iotd/features/hook"
)

// Defaults of a [Config].
const (
	DefaultCheckpointEvery = 64 << 10
	DefaultStallTimeout    = 30 * time.Second
	DefaultRetries         = 5
	DefaultHookTimeout     = 10 * time.Minute
	DefaultConfirmTimeout  = 10 * time.Minute
	DefaultHTTPDriver      = "tcp"
	DefaultVersion         = "0.0.0"
)

// Config configures OTA. The zero value works: version from the version
// file or "0.0.0", HTTPS only, no install hook.
type Config struct {
	// Disabled turns the feature off (no subscription, no version report).
	Disabled bool `yaml:"disabled" json:"disabled"`
	// Version is the firmware version reported when the version file does
	// not exist yet (1 to 32 characters).
	Version string `yaml:"version" json:"version"`
	// VersionFile holds the current version; iotd writes it after every
	// install. Default: {state_dir}/ota/version.
	VersionFile string `yaml:"version_file" json:"version_file"`
	// Dir holds the checkpoint and partial downloads. Default:
	// {state_dir}/ota.
	Dir string `yaml:"dir" json:"dir"`
	// Hook installs a verified firmware file; FILE and VERSION are appended
	// to its command and set in IOTD_FIRMWARE_FILE / IOTD_FIRMWARE_VERSION.
	// Its timeout defaults to 10m here.
	Hook hook.Config `yaml:"hook" json:"hook"`
	// AllowHTTP accepts http:// firmware URLs (default: refused, https only).
	AllowHTTP bool `yaml:"allow_http" json:"allow_http"`
	// HTTPDriver is the registered stream driver the download's connections
	// go through (default "tcp"; TLS for https is done on top of it).
	HTTPDriver string `yaml:"http_driver" json:"http_driver"`
	// CAFile holds PEM roots that verify the firmware server; empty means
	// the system roots.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// CheckpointEvery is how many bytes are written between two checkpoints
	// (default 64 KiB): at most this much is fetched again after iotd is
	// killed. The partial file and checkpoint are fsynced at most once a
	// second, so a power cut costs at most a second of download.
	CheckpointEvery int `yaml:"checkpoint_every" json:"checkpoint_every"`
	// StallTimeout fails an attempt that receives nothing for this long
	// (default 30s).
	StallTimeout time.Duration `yaml:"stall_timeout" json:"stall_timeout"`
	// Retries is how many consecutive attempts without progress are made
	// before the update fails with -1 (default 5).
	Retries int `yaml:"retries" json:"retries"`
	// ConfirmTimeout bounds the wait for an install that takes effect after
	// a reboot (the hook exited 3, or a Go installer returned
	// feature.ErrRebootPending): when iotd starts again and the device does
	// not run the new version within this long (default 10m), the board
	// rolled back and the update is reported failed (-5).
	ConfirmTimeout time.Duration `yaml:"confirm_timeout" json:"confirm_timeout"`
}

func (c *Config) setDefaults() {
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = DefaultCheckpointEvery
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.HTTPDriver == "" {
		c.HTTPDriver = DefaultHTTPDriver
	}
	if c.ConfirmTimeout == 0 {
		c.ConfirmTimeout = DefaultConfirmTimeout
	}
	if c.Hook.Enabled() && c.Hook.Timeout == 0 {
		c.Hook.Timeout = DefaultHookTimeout
	}
	if c.Hook.Enabled() && c.Hook.Concurrency == 0 {
		c.Hook.Concurrency = 1
	}
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Version != "" {
		if err := ValidateVersion(c.Version); err != nil {
			return fmt.Errorf("ota: version: %w", err)
		}
	}
	if err := c.Hook.Validate(); err != nil {
		return fmt.Errorf("ota: %w", err)
	}
	if c.CheckpointEvery < 0 || (c.CheckpointEvery > 0 && c.CheckpointEvery < 4<<10) || c.CheckpointEvery > 64<<20 {
		return fmt.Errorf("ota: checkpoint_every: %d, use 4096 to 67108864 bytes (0 means %d)", c.CheckpointEvery, DefaultCheckpointEvery)
	}
	if c.StallTimeout < 0 {
		return errors.New("ota: stall_timeout: must not be negative")
	}
	if c.ConfirmTimeout < 0 {
		return errors.New("ota: confirm_timeout: must not be negative")
	}
	if c.Retries < 0 || c.Retries > 1000 {
		return fmt.Errorf("ota: retries: %d, use 1 to 1000 (0 means %d)", c.Retries, DefaultRetries)
	}
	return nil
}

// ValidateVersion checks a firmware version: 1 to 32 printable ASCII
// characters without quotes or backslashes (PROTOCOL.md §2.3).
func ValidateVersion(v string) error {
	if len(v) == 0 || len(v) > 32 {
		return fmt.Errorf("%q: a version has 1 to 32 characters", v)
	}
	for i := 0; i < len(v); i++ {
		if b := v[i]; b <= ' ' || b >= 0x7f || b == '"' || b == '\\' || b == '/' {
			return fmt.Errorf("%q: a version is printable ASCII without spaces, quotes, slashes or backslashes", v)
		}
	}
	return nil
}

// Enabled reports whether the feature is on (feature.Section).
func (c *Config) Enabled() bool { return !c.Disabled }

// Disable turns the feature off (feature.Section).
func (c *Config) Disable() { c.Disabled = true }
