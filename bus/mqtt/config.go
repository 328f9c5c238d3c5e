package mqtt

import (
	"fmt"
	"time"

	"github.com/iotd/iotd/bus/outbox"
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
	// QueueSize bounds the messages held in memory until the broker
	// confirms them: every QoS 0 message, and QoS 1 messages when there is
	// no Outbox. Default 1000.
	QueueSize int `yaml:"queue_size" json:"queue_size"`
	// QueueBytes bounds the payload bytes of those messages. Default 4 MiB.
	// A publish that would pass either bound is refused at once (or, with
	// Overflow drop_oldest, the oldest queued messages make room).
	QueueBytes int64 `yaml:"queue_bytes" json:"queue_bytes"`
	// MaxPayload refuses larger payloads when they are published, before
	// they are queued: the hub closes the connection on a message over its
	// limit, which would otherwise come back after every reconnect. Default
	// 16384, the hub's documented maximum (PROTOCOL.md §1.4).
	MaxPayload int `yaml:"max_payload" json:"max_payload"`
	// Overflow is what a full queue or outbox does with a new message:
	// "refuse" (default: the publisher is told at once) or "drop_oldest"
	// (the oldest messages not yet on the wire are dropped to make room;
	// for telemetry where the latest matters most).
	Overflow string `yaml:"overflow" json:"overflow"`
	// DeadLetterAfter is how many MQTT sessions a message may end before it
	// is parked as a dead letter so that the messages behind it move on.
	// Default 3.
	DeadLetterAfter int `yaml:"dead_letter_after" json:"dead_letter_after"`
	// PublishRate paces publishes to at most this many per second, with
	// bursts of PublishBurst (default twice the rate): a broker that
	// enforces a rate limit closes the connection past it, as the hub does
	// (AT error 131). 0, the default here, does not pace.
	PublishRate  float64 `yaml:"publish_rate" json:"publish_rate"`
	PublishBurst int     `yaml:"publish_burst" json:"publish_burst"`
	// Outbox, when set, keeps QoS 1 messages on disk from the moment they
	// are accepted until their PUBACK, across restarts and power loss; the
	// uplink replays what it holds before anything newer. Its own bounds
	// (outbox.Options) apply to them instead of QueueSize and QueueBytes.
	Outbox outbox.Store `yaml:"-" json:"-"`
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
	DefaultQueueBytes     = 4 << 20
	DefaultMaxInflight    = 20
	// DefaultMaxPayload is the hub's documented message limit, 16 KiB
	// (PROTOCOL.md §1.4; the AT firmware reports error 132 "payload too
	// long" past it).
	DefaultMaxPayload      = 16 << 10
	DefaultDeadLetterAfter = 3
	// OverflowRefuse and OverflowDropOldest are the values of Overflow.
	OverflowRefuse     = "refuse"
	OverflowDropOldest = "drop_oldest"
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
	case c.QueueBytes < 0:
		return bad("queue_bytes", fmt.Sprintf("%d is negative; use e.g. 4194304 (4 MiB)", c.QueueBytes))
	case c.MaxPayload < 0 || c.MaxPayload > 256<<20:
		return bad("max_payload", fmt.Sprintf("%d is out of range; use 1 to 268435455 (MQTT's limit); default 16384, the hub's", c.MaxPayload))
	case c.Overflow != "" && c.Overflow != OverflowRefuse && c.Overflow != OverflowDropOldest:
		return bad("overflow", fmt.Sprintf("%q: use refuse or drop_oldest", c.Overflow))
	case c.DeadLetterAfter < 0:
		return bad("dead_letter_after", fmt.Sprintf("%d is negative; use e.g. 3", c.DeadLetterAfter))
	case c.PublishRate < 0:
		return bad("publish_rate", fmt.Sprintf("%g is negative; use 0 to not pace, or e.g. 30", c.PublishRate))
	case c.PublishBurst < 0:
		return bad("publish_burst", fmt.Sprintf("%d is negative", c.PublishBurst))
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
	if c.QueueBytes == 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.Overflow == "" {
		c.Overflow = OverflowRefuse
	}
	if c.DeadLetterAfter == 0 {
		c.DeadLetterAfter = DefaultDeadLetterAfter
	}
	if c.PublishRate > 0 && c.PublishBurst == 0 {
		c.PublishBurst = max(1, int(2*c.PublishRate))
	}
	return c
}

func (c Config) cleanSession() bool { return c.CleanSession == nil || *c.CleanSession }
