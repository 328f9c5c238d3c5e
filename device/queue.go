package device

import (
	"fmt"

	mqttup "github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/core"
)

// The uplink's queue settings that are not the outbox's: bounds, overflow,
// dead letters, pacing, and the memory limit sized from them.

// validateQueue checks the queue and outbox settings.
func (c *Config) validateQueue() error {
	bad := func(field, msg string) error {
		return &core.ConfigError{Source: "config", Field: "mqtt." + field, Msg: msg}
	}
	m := c.MQTT
	switch {
	case m.QueueBytes < 0:
		return bad("queue_bytes", "must not be negative")
	case m.MaxPayload < 0 || m.MaxPayload > 256<<20:
		return bad("max_payload", fmt.Sprintf("%d is out of range: 1 to 268435455 bytes, default 16384 (the hub's limit)", m.MaxPayload))
	case m.Overflow != "" && m.Overflow != mqttup.OverflowRefuse && m.Overflow != mqttup.OverflowDropOldest:
		return bad("overflow", fmt.Sprintf("%q: use refuse or drop_oldest", m.Overflow))
	case m.DeadLetterAfter < 0:
		return bad("dead_letter_after", "must not be negative")
	case m.PublishBurst < 0:
		return bad("publish_burst", "must not be negative")
	}
	return c.Outbox.Validate()
}

// DefaultPublishRate is mqtt.publish_rate's default, in messages per second:
// hubsim's limit, since the hub does not document its own.
const DefaultPublishRate = 30

// publishRate is the pace the uplink keeps: the default for 0, none for a
// negative rate.
func (m MQTTConfig) publishRate() float64 {
	switch {
	case m.PublishRate == 0:
		return DefaultPublishRate
	case m.PublishRate < 0:
		return 0
	}
	return m.PublishRate
}
