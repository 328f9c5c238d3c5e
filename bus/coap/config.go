package coap

import (
	"fmt"
	"time"

	"github.com/iotd/iotd/core"
)

// Config configures an [Uplink]. Apart from ProductID and DeviceName, the
// zero value of every field selects its default.
type Config struct {
	// ProductID and DeviceName name the device: they form the auth path
	// and the OTA topics. Required.
	ProductID  string `yaml:"-" json:"-"`
	DeviceName string `yaml:"-" json:"-"`

	// NeedResponse is the need-response flag (option 62) of publishes whose
	// bus request does not set [MetaNeedResponse]; OTA reports choose their
	// own. Default false ("0"), the C SDK's default.
	NeedResponse bool `yaml:"need_response" json:"need_response"`
	// AckTimeout is RFC 7252's ACK_TIMEOUT: the wait before the first
	// retransmission, multiplied by a random factor in [1, 1.5) and doubled
	// for every further one. Default 2s.
	AckTimeout time.Duration `yaml:"ack_timeout" json:"ack_timeout"`
	// MaxRetransmit is RFC 7252's MAX_RETRANSMIT: how many times a request
	// is sent again before it times out. Default 4; at most 20.
	MaxRetransmit int `yaml:"max_retransmit" json:"max_retransmit"`
	// ResponseTimeout bounds the wait for a separate response after the
	// hub acknowledged a request with 2.03 or an empty ACK. Default
	// MAX_TRANSMIT_WAIT for the AckTimeout and MaxRetransmit in use
	// (93s with the defaults).
	ResponseTimeout time.Duration `yaml:"response_timeout" json:"response_timeout"`
	// MaxPayload is the largest CoAP message iotd sends, header, token and
	// options included; a publish that would exceed it is refused before
	// anything is sent. Default 1024. The C SDK's buffer is 512 bytes, so
	// keep it at 512 where compatibility with its limits matters.
	MaxPayload int `yaml:"max_payload" json:"max_payload"`
	// TokenRefresh re-runs auth before a publish once the token is older
	// than this. Default 0: only when the hub answers 4.01.
	TokenRefresh time.Duration `yaml:"token_refresh" json:"token_refresh"`
	// QueueSize bounds the publishes waiting to be sent, mostly while
	// disconnected. Default 100.
	QueueSize int `yaml:"queue_size" json:"queue_size"`
	// OTAPoll is how often the last OTA report_version is sent again, so
	// that an update pushed since reaches the device: over CoAP the hub can
	// hand out update_firmware only as the answer to a report_version.
	// Default 1h; a negative value turns polling off.
	OTAPoll time.Duration `yaml:"ota_poll" json:"ota_poll"`
	// DeadAfter is how many exchanges in a row without an answer end the
	// session, so that the Link redials (a new DTLS handshake: a NAT or the
	// hub may have dropped the old one silently). The publish that ended it
	// is sent once more on the new session. Default 1: a full
	// retransmission schedule without an answer already is a dead channel.
	DeadAfter int `yaml:"dead_after" json:"dead_after"`

	// Rand returns numbers uniform in [0, 1) for the retransmission random
	// factor; nil uses math/rand/v2.
	Rand func() float64 `yaml:"-" json:"-"`
}

// Defaults and limits.
const (
	DefaultAckTimeout    = 2 * time.Second
	DefaultMaxRetransmit = 4
	MaxMaxRetransmit     = 20
	DefaultMaxPayload    = 1024
	// MinMaxPayload leaves room for a header, token, path and options.
	MinMaxPayload    = 64
	DefaultQueueSize = 100
	DefaultDeadAfter = 1
	DefaultOTAPoll   = time.Hour
	// ackRandomFactor is RFC 7252's ACK_RANDOM_FACTOR.
	ackRandomFactor = 1.5
	// MaxPathLen is the hub's limit on the Uri-Path (the topic), in bytes.
	MaxPathLen = 128
)

// Validate reports the first invalid field. Zero values are valid.
func (c Config) Validate() error {
	bad := func(field, msg string) error {
		return &core.ConfigError{Source: "coap", Field: field, Msg: msg}
	}
	switch {
	case c.ProductID == "" || c.DeviceName == "":
		return bad("device", "product id and device name are required (programming error: set Config.ProductID and DeviceName)")
	case c.AckTimeout < 0:
		return bad("ack_timeout", fmt.Sprintf("%s is negative; use e.g. 2s", c.AckTimeout))
	case c.MaxRetransmit < 0 || c.MaxRetransmit > MaxMaxRetransmit:
		return bad("max_retransmit", fmt.Sprintf("%d is out of range; use 1 to %d (default %d)", c.MaxRetransmit, MaxMaxRetransmit, DefaultMaxRetransmit))
	case c.ResponseTimeout < 0:
		return bad("response_timeout", fmt.Sprintf("%s is negative", c.ResponseTimeout))
	case c.MaxPayload != 0 && c.MaxPayload < MinMaxPayload:
		return bad("max_payload", fmt.Sprintf("%d is too small; use at least %d (default %d)", c.MaxPayload, MinMaxPayload, DefaultMaxPayload))
	case c.TokenRefresh < 0:
		return bad("token_refresh", fmt.Sprintf("%s is negative; use 0 to re-auth only when the hub asks", c.TokenRefresh))
	case c.QueueSize < 0:
		return bad("queue_size", fmt.Sprintf("%d is negative; use e.g. 100", c.QueueSize))
	case c.DeadAfter < 0:
		return bad("dead_after", fmt.Sprintf("%d is negative; use e.g. 1", c.DeadAfter))
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.MaxRetransmit == 0 {
		c.MaxRetransmit = DefaultMaxRetransmit
	}
	if c.ResponseTimeout == 0 {
		c.ResponseTimeout = MaxTransmitWait(c.AckTimeout, c.MaxRetransmit)
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.OTAPoll == 0 {
		c.OTAPoll = DefaultOTAPoll
	}
	if c.DeadAfter == 0 {
		c.DeadAfter = DefaultDeadAfter
	}
	return c
}

// MaxTransmitWait is RFC 7252's MAX_TRANSMIT_WAIT: the longest time from
// the first transmission of a confirmable message to the end of the wait
// after its last retransmission.
func MaxTransmitWait(ackTimeout time.Duration, maxRetransmit int) time.Duration {
	return time.Duration(float64(ackTimeout) * float64(int(1)<<(maxRetransmit+1)-1) * ackRandomFactor)
}
