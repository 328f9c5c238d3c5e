package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	mqttup "github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/device"
	"github.com/iotd/iotd/localapi"
)

// Config is the daemon's configuration file (YAML): the device's keys
// (device.Config, inline: identity, region, channel, link, mqtt, outbox,
// features, ...) and the daemon's own — the local API's socket, logging,
// the memory limit and plugins. Every key is optional; the zero value
// connects with device_info.json from the working directory over TLS to
// the real hub. See iotd.sample.yaml for the annotated version.
//
// A daemon that runs several devices has them under devices: instead, by
// name, each with the device's keys; the top level then keeps only the
// daemon's own keys (see Devices).
type Config struct {
	// Config is the device of a configuration without devices: (the
	// device named [DefaultDeviceName]). With Devices, only its Dir and
	// File are used: a device key beside devices: is an error.
	device.Config `yaml:",inline"`

	// Devices are the devices of a daemon that runs several, by name (the
	// keys under devices:, 1 to 32 of a-z, 0-9, _ and -), each with the
	// keys of the top-level device part; nil when the file has no
	// devices:. Each device's relative paths resolve against the
	// configuration file's directory; a device without state_dir keeps its
	// state in iotd-state/NAME there. No two devices share a state
	// directory or a device_info.json.
	Devices map[string]*device.Config `yaml:"-"`

	// Socket is the local API's Unix socket path.
	Socket string    `yaml:"socket"`
	Log    LogConfig `yaml:"log"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes (default
	// 16 MiB plus each device's mqtt.queue_bytes; GOMEMLIMIT in the
	// environment wins): the garbage collector works harder near it
	// instead of letting garbage grow the heap, which keeps iotd's
	// footprint predictable on a small board. It is not a hard cap; -1 leaves the runtime's default (none).
	MemoryLimit int64 `yaml:"memory_limit"`
	// Plugins are out-of-tree drivers, launched as separate processes.
	Plugins PluginsConfig `yaml:"plugins"`
	// Metrics is the optional metrics and health listener.
	Metrics MetricsConfig `yaml:"metrics"`
}

// LogConfig selects log level and format.
type LogConfig struct {
	// Level is debug, info, warn or error (default info).
	Level string `yaml:"level"`
	// Format is text or json (default text).
	Format string `yaml:"format"`
}

// ParseConfig decodes a configuration strictly: an unknown key is an error
// that names it and its line. source names the file in errors; dir is the
// directory relative paths are resolved against.
func ParseConfig(data []byte, source, dir string) (*Config, error) {
	cfg := &Config{}
	root, devs, err := devicesNode(data, source)
	if err != nil {
		return nil, err
	}
	if devs != nil {
		return cfg.decoded(cfg.decodeDevices(data, source, dir, root, devs))
	}
	return cfg.decoded(device.Decode(data, source, dir, cfg, &cfg.Config))
}

// LoadConfig reads and strictly decodes the file at path; relative paths
// in it are resolved against its directory.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(data, path, filepath.Dir(abs))
}

// decoded checks the daemon's own keys of a configuration the device's
// decoding (err) accepted.
func (c *Config) decoded(err error) (*Config, error) {
	if err != nil {
		return nil, err
	}
	if err := c.validateOwn(); err != nil {
		err.Source = c.File
		return nil, err
	}
	return c, nil
}

// Validate checks values that decoding alone cannot: the device's, then
// the daemon's own.
func (c *Config) Validate() error {
	if c.Devices != nil {
		if err := c.validateDevices(); err != nil {
			return err
		}
	} else if err := c.Config.Validate(); err != nil {
		return err
	}
	if err := c.validateOwn(); err != nil {
		return err
	}
	return nil
}

// validateOwn checks the daemon's own keys.
func (c *Config) validateOwn() *core.ConfigError {
	bad := func(field, msg string) *core.ConfigError {
		return &core.ConfigError{Source: "config", Field: field, Msg: msg}
	}
	if err := c.Plugins.validate(); err != nil {
		return err
	}
	if err := c.Metrics.validate(); err != nil {
		return err
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		return bad("log.level", fmt.Sprintf("%q: use debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		return bad("log.format", fmt.Sprintf("%q: use text or json", c.Log.Format))
	}
	if c.MemoryLimit > 0 && c.MemoryLimit < 8<<20 {
		return bad("memory_limit", fmt.Sprintf("%d bytes is below the 8 MiB iotd needs; use e.g. 33554432 (32 MiB), or -1 for none", c.MemoryLimit))
	}
	return nil
}

// MemoryLimitBytes is the soft memory limit the daemon runs with (see
// Config.MemoryLimit); 0 means none.
func (c *Config) MemoryLimitBytes() int64 {
	switch {
	case c.MemoryLimit < 0:
		return 0
	case c.MemoryLimit > 0:
		return c.MemoryLimit
	}
	var q int64
	for _, nd := range c.DeviceConfigs() {
		if b := nd.Config.MQTT.QueueBytes; b > 0 {
			q += b
		} else {
			q += mqttup.DefaultQueueBytes
		}
	}
	return 16<<20 + q
}

// SocketPath is the resolved local API socket path.
func (c *Config) SocketPath() string {
	if c.Socket != "" {
		return c.Path(c.Socket)
	}
	return localapi.DefaultSocket()
}
