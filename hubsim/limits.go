package hubsim

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Publish limits. Over raw MQTT 3.1.1 a broker cannot refuse a single
// publish (a PUBACK carries no code), so the hub drops the connection of a
// device that breaks one of them, without a PUBACK; the Tencent AT firmware,
// which runs the SDK on the module, reports the same refusals as the error
// numbers 130 (publish unauthorized), 131 (publish rate limit) and 132
// (payload too long) (PROTOCOL.md §1.6).
const (
	// DefaultMaxPayload is the hub's payload limit: the C SDK's buffer
	// comment says "max 16 KiB" (PROTOCOL.md §1.4,
	// qcloud_iot_export_variables.h) and Tencent's documentation gives 16 KB
	// as the cloud's largest MQTT message (PEERS-AND-NUMBERS.md, footprint
	// row).
	DefaultMaxPayload = 16 << 10
	// DefaultPublishRate (messages per second, per device) is hubsim's own
	// choice: the hub enforces a per-device publish rate (AT error 131), but
	// none of our sources gives its number. 30/s with a burst of 60 is more
	// than a device reporting telemetry, its shadow and OTA progress needs;
	// tests and benchmarks that flood the hub raise it in Config.
	DefaultPublishRate = 30
	// DefaultPublishBurst is two seconds' worth of DefaultPublishRate: a
	// device may send its start-up messages (time, shadow, OTA version,
	// sub-devices online) at once.
	DefaultPublishBurst = 2 * DefaultPublishRate
)

// Codes of a PublishRefusal: the AT firmware's error numbers (PROTOCOL.md
// §1.6).
const (
	PublishUnauthorized = 130
	PublishRateLimited  = 131
	PublishTooLong      = 132
)

// PublishRefusal is why the hub closed a device's connection at a publish.
type PublishRefusal struct {
	Time  time.Time `json:"time"`
	Topic string    `json:"topic"`
	QoS   byte      `json:"qos"`
	Bytes int       `json:"bytes"`
	// Code is PublishUnauthorized (topic outside the ACL),
	// PublishRateLimited or PublishTooLong; 0 for a QoS 2 publish, which the
	// AT firmware cannot send.
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func (r PublishRefusal) err() error {
	if r.Code == 0 {
		return errors.New("hubsim: publish refused: " + r.Reason)
	}
	return fmt.Errorf("hubsim: publish refused (error %d): %s", r.Code, r.Reason)
}

// Limits are the publish limits a hub enforces (GET /info); 0 means none.
type Limits struct {
	MaxPayload   int     `json:"maxPayload"`
	PublishRate  float64 `json:"publishRate"`
	PublishBurst int     `json:"publishBurst"`
}

// Limits returns the limits in force, defaults applied.
func (h *Hub) Limits() Limits {
	var l Limits
	if h.cfg.MaxPayload > 0 {
		l.MaxPayload = h.cfg.MaxPayload
	}
	if h.cfg.PublishRate > 0 {
		l.PublishRate, l.PublishBurst = h.cfg.PublishRate, h.cfg.PublishBurst
	}
	return l
}

// limiter is a token bucket per client id. Buckets outlive connections, so
// reconnecting does not refill one.
type limiter struct {
	rate, burst float64 // rate <= 0: no limit

	mu      sync.Mutex
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token from id's bucket; false when none is left.
func (l *limiter) allow(id string) bool {
	if l.rate <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[id]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[id] = b
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// setClock replaces the limiter's clock (tests).
func (l *limiter) setClock(now func() time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
}
