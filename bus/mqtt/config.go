package mqtt

import (
	"fmt"
	"time"

	"github.com/iotd/iotd/core"
)

// Config configures an [Uplink]. Apart from Credentials, the zero value of
// every field selects its default.
type Config struct {
	// Credentials returns the client id, username and password for the next
	// CONNECT. It is called before every connection attempt, so a signed
	// username with a fresh connection id is used each time. Required.
	Credentials func() (core.Credentials, error) `yaml:"-" json:"-"`
	// KeepAlive is the MQTT keepalive. Default 240s (the C SDK's); values
	// above 690s, the hub's limit, are lowered to 690s.
	KeepAlive time.Duration `yaml:"keepalive" json:"keepalive"`
	// CleanSession sets the CONNECT clean-session flag. nil means true, the
	// C SDK's default; set it to false for a persistent session, in which
	// the broker keeps QoS 1 subscriptions' messages while the device is away.
	CleanSession *bool `yaml:"clean_session" json:"clean_session"`
	// ConnectTimeout bounds CONNECT→CONNACK. Default 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout" json:"connect_timeout"`
	// QueueSize bounds the publishes waiting to be handed to the broker,
	// mostly while disconnected. A publish that finds the queue full fails at
	// once. Default 1000.
	QueueSize int `yaml:"queue_size" json:"queue_size"`
	// MaxInflight bounds the publishes handed to the broker and not yet
	// confirmed (QoS 0 written, QoS 1 acknowledged). Default 20, the C SDK's
	// MAX_REPUB_NUM; raise it on links with a long round trip.
	MaxInflight int `yaml:"max_inflight" json:"max_inflight"`
}

// Defaults and limits.
const (
	DefaultKeepAlive      = 240 * time.Second
	MaxKeepAlive          = 690 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultQueueSize      = 1000
	DefaultMaxInflight    = 20
	// MaxTopicLen is the hub's limit on topic and filter length, in bytes.
	MaxTopicLen = 128
)

// Validate reports the first invalid field. Zero values are valid.
func (c Config) Validate() error {
	bad := func(field, msg string) error {
		return &core.ConfigError{Source: "mqtt", Field: field, Msg: msg}
	}
	switch {
	case c.Credentials == nil:
		return bad("credentials", "no credentials source (programming error: set Config.Credentials)")
	case c.KeepAlive < 0:
		return bad("keepalive", fmt.Sprintf("%s is negative; use e.g. 240s", c.KeepAlive))
	case c.KeepAlive > 0 && c.KeepAlive < time.Second:
		return bad("keepalive", fmt.Sprintf("%s is below MQTT's 1 s resolution; use e.g. 240s", c.KeepAlive))
	case c.ConnectTimeout < 0:
		return bad("connect_timeout", fmt.Sprintf("%s is negative; use e.g. 10s", c.ConnectTimeout))
	case c.QueueSize < 0:
		return bad("queue_size", fmt.Sprintf("%d is negative; use e.g. 1000", c.QueueSize))
	case c.MaxInflight < 0 || c.MaxInflight > 65535:
		return bad("max_inflight", fmt.Sprintf("%d is out of range; use 1 to 65535 (default 20)", c.MaxInflight))
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	c.KeepAlive = min(c.KeepAlive, MaxKeepAlive)
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	return c
}

func (c Config) cleanSession() bool { return c.CleanSession == nil || *c.CleanSession }
