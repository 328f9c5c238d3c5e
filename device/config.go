package device

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/attencent"
	coapup "github.com/iotd/iotd/bus/coap"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/hub"
	"github.com/iotd/iotd/feature"
	"go.yaml.in/yaml/v3"
)

// Config is a device's configuration: the keys of iotd's configuration
// file (YAML) that say what the device is, how it reaches the hub and which
// features run. The daemon's own configuration embeds it and adds its local
// API socket, logging, memory limit and plugins. Every key is optional;
// the zero value connects with device_info.json from the working directory
// over TLS to the real hub. See daemon/iotd.sample.yaml for the annotated
// version.
type Config struct {
	// DeviceInfo is the path of the device identity file, in the C SDK's
	// device_info.json format. Relative paths are resolved against the
	// directory of the configuration file.
	DeviceInfo string `yaml:"device_info"`
	// StateDir holds what iotd persists (queues, checkpoints).
	StateDir string `yaml:"state_dir"`
	// Region is the hub region whose endpoints iotd uses: china (default),
	// us-east, europe or ap-bangkok. device_info.json's region is used
	// when this is empty; when both are set they must agree. An explicit
	// link.endpoint (or a service URL) still wins.
	Region string `yaml:"region"`

	// Channel is how iotd talks to the hub: mqtt (default), websocket (MQTT
	// over WebSocket: wss on 443, for networks that allow only HTTPS) or
	// coap. CoAP carries publishes and OTA only; features that need MQTT
	// downlink are turned off with it.
	Channel string `yaml:"channel"`
	// WebSocket shapes the websocket channel.
	WebSocket WebSocketConfig `yaml:"websocket"`
	Link      LinkConfig      `yaml:"link"`
	MQTT      MQTTConfig      `yaml:"mqtt"`
	// Outbox keeps accepted QoS 1 messages on disk until acknowledged.
	Outbox OutboxConfig `yaml:"outbox"`
	// CoAP shapes the CoAP channel (used when Channel is coap).
	CoAP coapup.Config `yaml:"coap"`
	// Bus chooses the bus's backend: in process (the default) or NATS
	// JetStream (backend: nats, url, ...; see bus.Config).
	Bus bus.Config `yaml:"bus"`
	// Features are the features' sections, by module name (the keys under
	// `features:`), decoded by package feature into each module's type.
	Features map[string]feature.Section `yaml:"-"`
	// ATTencent configures channel at-tencent: the module's port.
	ATTencent attencent.Config `yaml:"at_tencent"`
	// Registration configures dynamic registration, which runs before the
	// first connection when device_info.json has a product secret but no
	// device credentials.
	Registration RegistrationConfig `yaml:"registration"`
	// Drivers configures drivers by name for every use iotd makes of them
	// (link, HTTP, the carrier under tls): e.g. an AT modem's port and APN.
	// link.driver_config, when set, overrides the entry for the link.
	Drivers map[string]map[string]any `yaml:"drivers"`

	// Dir is the directory relative paths are resolved against (LoadConfig
	// sets it to the file's); empty: the working directory.
	Dir string `yaml:"-"`
	// File names the configuration in messages (LoadConfig sets it to the
	// file's path).
	File string `yaml:"-"`
}

// LinkConfig selects the driver and endpoint.
type LinkConfig struct {
	// Driver is a registered driver name (default "tls"); `iotd drivers`
	// lists them.
	Driver string `yaml:"driver"`
	// Endpoint is host:port (default {productId}.iotcloud.tencentdevices.com
	// with port 8883 for tls, 1883 for tcp).
	Endpoint string `yaml:"endpoint"`
	// DialTimeout bounds one connection attempt including the handshake.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// Backoff shapes the waits between reconnection attempts.
	Backoff core.BackoffConfig `yaml:"backoff"`
	// DriverConfig is passed to the driver as JSON; its keys are the
	// driver's (tls: ca_file, server_name, insecure_skip_verify, ...).
	// Relative file paths in keys ending in "_file" are resolved against
	// the configuration file's directory. For CERT devices using the tls
	// driver, cert_file and key_file default to the device's files.
	DriverConfig map[string]any `yaml:"driver_config"`
}

// MQTTConfig shapes the MQTT session.
type MQTTConfig struct {
	// KeepAlive in the CONNECT packet (default 240s, at most 690s, the
	// hub's limit; whole seconds).
	KeepAlive time.Duration `yaml:"keepalive"`
	// CleanSession is the CONNECT clean-session flag (default true, the C
	// SDK's). false asks the broker for a persistent session, which keeps
	// the subscriptions and the QoS 1 messages for them while the device is
	// away.
	CleanSession *bool `yaml:"clean_session"`
	// MaxInflight bounds the publishes handed to the broker and not yet
	// confirmed, 1 to 65535 (default 20, the C SDK's MAX_REPUB_NUM).
	MaxInflight int `yaml:"max_inflight"`
	// ConnectTimeout bounds CONNECT→CONNACK (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// QueueSize and QueueBytes bound the messages held in memory until
	// the hub confirms them: every QoS 0 message, and QoS 1 messages when
	// the outbox is off (defaults 1000 and 4 MiB).
	QueueSize  int   `yaml:"queue_size"`
	QueueBytes int64 `yaml:"queue_bytes"`
	// MaxPayload refuses larger payloads at once (default 16384, the hub's
	// documented limit).
	MaxPayload int `yaml:"max_payload"`
	// Overflow is refuse (default) or drop_oldest: what a full queue or
	// outbox does with a new message.
	Overflow string `yaml:"overflow"`
	// DeadLetterAfter parks a message that ended this many sessions
	// (default 3), so that the messages behind it are sent.
	DeadLetterAfter int `yaml:"dead_letter_after"`
	// PublishRate paces publishes to this many per second with bursts of
	// PublishBurst (defaults 30 and 60: hubsim's limit; the hub's own is
	// not documented). The hub closes the connection of a device that
	// publishes faster. A negative rate turns pacing off.
	PublishRate  float64 `yaml:"publish_rate"`
	PublishBurst int     `yaml:"publish_burst"`
	// SignMethod is hmacsha1 (default: what the SDKs send) or hmacsha256.
	SignMethod string `yaml:"sign_method"`
	// UsernameExpiry is how long a signed username stays valid (default 0:
	// never expires). Keep it 0 on boards without a real-time clock.
	UsernameExpiry time.Duration `yaml:"username_expiry"`
}

// ParseConfig decodes a configuration strictly: an unknown key is an error
// that names it and its line. source names the file in errors; dir is the
// directory relative paths are resolved against. The daemon's own keys
// (socket, log, memory_limit, plugins) are accepted and ignored, so a
// program can load the file iotd runs with.
func ParseConfig(data []byte, source, dir string) (*Config, error) {
	var f withDaemonKeys
	if err := Decode(data, source, dir, &f, &f.Config); err != nil {
		return nil, err
	}
	return &f.Config, nil
}

// withDaemonKeys is a Config with the daemon's keys, which the same file
// holds, left undecoded.
type withDaemonKeys struct {
	Config      `yaml:",inline"`
	Socket      yaml.Node `yaml:"socket"`
	Log         yaml.Node `yaml:"log"`
	MemoryLimit yaml.Node `yaml:"memory_limit"`
	Plugins     yaml.Node `yaml:"plugins"`
}

// Decode decodes data strictly into base, a pointer to a struct that
// embeds cfg inline (the daemon's configuration), then validates cfg.
// source names the file in errors; dir is the directory relative paths
// are resolved against. The caller validates base's own keys.
func Decode(data []byte, source, dir string, base any, cfg *Config) error {
	return DecodeAt(data, source, dir, nil, base, cfg)
}

// DecodeAt is [Decode] of the mapping at path in data (the keys from the
// top: devices, NAME for a device of a daemon that runs several): its keys
// are base's, decoded as strictly, with errors naming lines of data. The
// other keys along the path are left to the caller.
func DecodeAt(data []byte, source, dir string, path []string, base any, cfg *Config) error {
	cfg.Dir, cfg.File = dir, source
	secs, err := feature.DecodeConfigAt(data, path, base, feature.Modules())
	if err != nil {
		return &core.ConfigError{Source: source, Msg: err.Error()}
	}
	cfg.Dir, cfg.File = dir, source
	cfg.Features = secs
	if err := cfg.Validate(); err != nil {
		var ce *core.ConfigError
		if errors.As(err, &ce) {
			ce.Source = source
		}
		return err
	}
	return nil
}

// LoadConfig reads and strictly decodes the file at path (see
// [ParseConfig]); relative paths in it are resolved against its directory.
func LoadConfig(path string) (*Config, error) {
	var f withDaemonKeys
	if err := DecodeFile(path, &f, &f.Config); err != nil {
		return nil, err
	}
	return &f.Config, nil
}

// DecodeFile is [Decode] of the file at path: relative paths in it are
// resolved against its directory, and errors name it.
func DecodeFile(path string, base any, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return Decode(data, path, filepath.Dir(abs), base, cfg)
}

// Validate checks values that decoding alone cannot.
func (c *Config) Validate() error {
	bad := func(field, msg string) error {
		return &core.ConfigError{Source: "config", Field: field, Msg: msg}
	}
	if err := c.validateDrivers(); err != nil {
		return err
	}
	if err := c.Bus.Validate(); err != nil {
		return bad("bus", err.Error())
	}
	if c.Outbox.Backend == BackendJetStream && c.Bus.Backend != "nats" {
		return bad("outbox.backend", "jetstream keeps the outbox on the bus's NATS server: set bus.backend: nats (and its url), in an iotd built with -tags iotd_nats")
	}
	switch core.SignMethod(c.MQTT.SignMethod) {
	case "", core.HMACSHA256, core.HMACSHA1:
	default:
		return bad("mqtt.sign_method", fmt.Sprintf("%q: use hmacsha1 or hmacsha256", c.MQTT.SignMethod))
	}
	if c.MQTT.KeepAlive < 0 || c.MQTT.KeepAlive > 690*time.Second {
		return bad("mqtt.keepalive", "must be between 0 and 690s (the hub's limit)")
	}
	if c.MQTT.KeepAlive > 0 && c.MQTT.KeepAlive < time.Second {
		return bad("mqtt.keepalive", fmt.Sprintf("%s is below MQTT's 1 s resolution; use e.g. 240s", c.MQTT.KeepAlive))
	}
	if c.MQTT.MaxInflight < 0 || c.MQTT.MaxInflight > 65535 {
		return bad("mqtt.max_inflight", fmt.Sprintf("%d is out of range: use 1 to 65535 (default 20)", c.MQTT.MaxInflight))
	}
	if c.MQTT.QueueSize < 0 {
		return bad("mqtt.queue_size", "must not be negative")
	}
	if err := c.validateQueue(); err != nil {
		return err
	}
	if c.MQTT.UsernameExpiry < 0 {
		return bad("mqtt.username_expiry", "must not be negative")
	}
	if c.Region != "" {
		if _, err := hub.LookupRegion(c.Region); err != nil {
			return bad("region", err.Error())
		}
	}
	if err := c.validateChannel(); err != nil {
		return err
	}
	if c.Link.DialTimeout < 0 {
		return bad("link.dial_timeout", "must not be negative")
	}
	if err := c.Registration.Validate(); err != nil {
		return bad("registration", err.Error())
	}
	if err := c.Link.Backoff.Validate(); err != nil {
		return bad("link.backoff", err.Error())
	}
	return c.validateFeatures()
}

// Path resolves p against the configuration file's directory (Dir);
// absolute and empty paths pass unchanged.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// DeviceInfoPath is the resolved device_info.json path.
func (c *Config) DeviceInfoPath() string {
	if c.DeviceInfo == "" {
		return c.Path("device_info.json")
	}
	return c.Path(c.DeviceInfo)
}

// StateDirPath is the resolved state directory.
func (c *Config) StateDirPath() string {
	if c.StateDir == "" {
		return c.Path("iotd-state") // next to the configuration file
	}
	return c.Path(c.StateDir)
}
