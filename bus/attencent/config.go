package attencent

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/iotd/iotd/core"
)

// Config configures an [Uplink]. The yaml-tagged fields are the daemon's
// at_tencent section; the others are filled from the device identity and
// the daemon's mqtt and link sections. The zero value of every optional
// field selects its default.
type Config struct {
	// Port is the module's serial port ("/dev/ttyUSB0", a
	// /dev/serial/by-id link). Required.
	Port string `yaml:"port" json:"port"`
	// Baud is the line rate; 0 means 115200, the ESP-AT default.
	Baud int `yaml:"baud" json:"baud"`
	// CommandTimeout bounds the module's first answer to a command (its
	// OK or error). Default 5s.
	CommandTimeout time.Duration `yaml:"command_timeout" json:"command_timeout"`
	// MQTTTimeout is AT+TCMQTTCONN's <cmdtimeout>: how long the module
	// waits for CONNACK, SUBACK, PUBACK and UNSUBACK before it reports
	// FAIL,202. The firmware takes 500ms to 20s. Default 10s.
	MQTTTimeout time.Duration `yaml:"mqtt_timeout" json:"mqtt_timeout"`
	// SSID and WiFiPassword, when SSID is set, are joined with AT+CWJAP
	// before connecting, unless the module is on that network already
	// (ESP-AT rejoins the last one at boot). Leave SSID empty for a
	// cellular module, or one provisioned otherwise.
	SSID         string `yaml:"ssid" json:"ssid"`
	WiFiPassword string `yaml:"wifi_password" json:"-"`
	// QueueSize bounds the publishes waiting for the module, mostly while
	// it is disconnected. Default 100.
	QueueSize int `yaml:"queue_size" json:"queue_size"`

	// ProductID, DeviceName and DeviceSecret go to AT+TCDEVINFOSET; the
	// firmware signs its own CONNECT with the secret. Required.
	ProductID    string `yaml:"-" json:"-"`
	DeviceName   string `yaml:"-" json:"-"`
	DeviceSecret string `yaml:"-" json:"-"`
	// Region is the hub region ("china", "ap-bangkok", ...); "" or
	// "china" leave the firmware's default.
	Region string `yaml:"-" json:"-"`
	// KeepAlive is the MQTT keepalive; the firmware takes 60s to 690s.
	// Default 240s.
	KeepAlive time.Duration `yaml:"-" json:"-"`
	// CleanSession is the CONNECT clean-session flag; nil means true.
	CleanSession *bool `yaml:"-" json:"-"`
	// Backoff paces the attempts to bring the session up again.
	Backoff core.BackoffConfig `yaml:"-" json:"-"`
	// Rand returns numbers uniform in [0, 1) for backoff jitter; nil uses
	// math/rand/v2.
	Rand func() float64 `yaml:"-" json:"-"`
	// Logger receives the uplink's logs; nil discards them.
	Logger *slog.Logger `yaml:"-" json:"-"`
}

// Defaults and the firmware's limits (drivers/at/atsim/testdata/tencent.md).
const (
	DefaultCommandTimeout = 5 * time.Second
	DefaultMQTTTimeout    = 10 * time.Second
	DefaultKeepAlive      = 240 * time.Second
	DefaultQueueSize      = 100

	MinMQTTTimeout = 500 * time.Millisecond
	MaxMQTTTimeout = 20 * time.Second
	MinKeepAlive   = 60 * time.Second
	MaxKeepAlive   = 690 * time.Second

	maxProductID  = 10
	maxDeviceName = 48
	maxSecret     = 44
)

// Validate reports the first invalid field, naming the key to fix.
func (c Config) Validate() error {
	bad := func(field, msg string) error {
		return &core.ConfigError{Source: "at_tencent", Field: field, Msg: msg}
	}
	switch {
	case c.Port == "":
		return bad("port", "empty; set the module's serial port, e.g. /dev/ttyUSB0")
	case c.Baud < 0:
		return bad("baud", fmt.Sprintf("%d is negative; use the module's rate, e.g. 115200", c.Baud))
	case c.CommandTimeout < 0:
		return bad("command_timeout", fmt.Sprintf("%s is negative; use e.g. 5s", c.CommandTimeout))
	case c.MQTTTimeout != 0 && (c.MQTTTimeout < MinMQTTTimeout || c.MQTTTimeout > MaxMQTTTimeout):
		return bad("mqtt_timeout", fmt.Sprintf("%s is out of the firmware's range %s to %s (default %s)", c.MQTTTimeout, MinMQTTTimeout, MaxMQTTTimeout, DefaultMQTTTimeout))
	case c.KeepAlive != 0 && (c.KeepAlive < MinKeepAlive || c.KeepAlive > MaxKeepAlive):
		return bad("keepalive", fmt.Sprintf("%s is out of the firmware's range %s to %s (mqtt.keepalive; default %s)", c.KeepAlive, MinKeepAlive, MaxKeepAlive, DefaultKeepAlive))
	case c.QueueSize < 0:
		return bad("queue_size", fmt.Sprintf("%d is negative; use e.g. 100", c.QueueSize))
	case c.SSID == "" && c.WiFiPassword != "":
		return bad("ssid", "empty, but wifi_password is set; set the network's name too")
	}
	if err := checkIdentity(c.ProductID, c.DeviceName, c.DeviceSecret); err != nil {
		return err
	}
	return c.Backoff.Validate()
}

// checkIdentity checks what AT+TCDEVINFOSET will carry against the
// firmware's limits, so that the module does not refuse it with a bare 204.
// The secret's value never appears in the error.
func checkIdentity(pid, dn, secret string) error {
	bad := func(field, msg string) error {
		return &core.ConfigError{Source: "device_info.json", Field: field, Msg: msg}
	}
	switch {
	case pid == "" || len(pid) > maxProductID:
		return bad("productId", fmt.Sprintf("%d characters; Tencent's AT firmware takes 1 to %d", len(pid), maxProductID))
	case dn == "" || len(dn) > maxDeviceName:
		return bad("deviceName", fmt.Sprintf("%d characters; Tencent's AT firmware takes 1 to %d", len(dn), maxDeviceName))
	case secret == "":
		return bad("key_deviceinfo.deviceSecret", "empty; channel at-tencent needs a key device: the firmware signs in with the device secret")
	case len(secret) > maxSecret:
		return bad("key_deviceinfo.deviceSecret", fmt.Sprintf("%d characters; Tencent's AT firmware takes at most %d", len(secret), maxSecret))
	case !plain(pid) || !plain(dn) || !plain(secret):
		return bad("productId", "the product id, device name and secret must be printable ASCII for AT+TCDEVINFOSET")
	}
	return nil
}

func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func (c Config) withDefaults() Config {
	if c.CommandTimeout == 0 {
		c.CommandTimeout = DefaultCommandTimeout
	}
	if c.MQTTTimeout == 0 {
		c.MQTTTimeout = DefaultMQTTTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// clean is the clean-session flag in use.
func (c Config) clean() bool { return c.CleanSession == nil || *c.CleanSession }
