package hubsim

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startHubWith starts a hub like startHub, with the publish limits of cfg.
func startHubWith(t *testing.T, cfg Config) *Hub {
	t.Helper()
	cfg.StateDir, cfg.TLSAddr, cfg.TCPAddr, cfg.AdminAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Now = func() time.Time { return testNow }
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// TestPublishRefusalsCloseTheConnection: a publish the hub refuses closes
// the connection before any PUBACK, for QoS 0 and 1 alike; the refusal is
// counted, logged in the message log and kept as the device's last one; and
// the device's next connection works.
func TestPublishRefusalsCloseTheConnection(t *testing.T) {
	h := startHub(t, "")
	big := bytes.Repeat([]byte("x"), DefaultMaxPayload+1)
	tests := []struct {
		name    string
		topic   string // %s: the device's own prefix, pid/dn
		qos     byte
		payload []byte
		code    int
		count   func(Status) int64
	}{
		{"another device's topic, qos 0", "PLIM000001/other/control", 0, []byte("x"), PublishUnauthorized, deniedCount},
		{"another device's topic, qos 1", "PLIM000001/other/control", 1, []byte("x"), PublishUnauthorized, deniedCount},
		{"another device's system topic", "$shadow/operation/PLIM000001/other", 1, []byte("x"), PublishUnauthorized, deniedCount},
		{"broker $SYS topic", "$SYS/broker/clients", 0, []byte("x"), PublishUnauthorized, deniedCount},
		{"payload over 16 KiB, qos 0", "own/event", 0, big, PublishTooLong, oversizeCount},
		{"payload over 16 KiB, qos 1", "own/event", 1, big, PublishTooLong, oversizeCount},
		{"qos 2", "own/event", 2, []byte("x"), 0, deniedCount},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dn := "dev" + string(rune('a'+i))
			_, err := h.CreateDevice("PLIM000001", dn, false)
			require.NoError(t, err)
			topic := tt.topic
			if len(topic) > 4 && topic[:4] == "own/" {
				topic = "PLIM000001/" + dn + "/" + topic[4:]
			}

			r := connectRaw(t, h, "PLIM000001", dn)
			r.send(rawPublish("PLIM000001/"+dn+"/event", 1, 1, []byte("first")))
			require.Equal(t, puback(1), r.read(), "an accepted publish is acknowledged")
			// The PINGREQ after the refused publish would be answered if the
			// hub went on reading: any byte read fails the test.
			r.send(rawPublish(topic, tt.qos, 2, tt.payload), pingreq)
			r.expectClosed()

			st := h.Status("PLIM000001", dn)
			assert.Equal(t, int64(1), tt.count(st))
			assert.Equal(t, int64(1), st.Published)
			require.NotNil(t, st.LastPublishRefusal)
			assert.Equal(t, tt.code, st.LastPublishRefusal.Code)
			assert.Equal(t, topic, st.LastPublishRefusal.Topic)
			assert.Equal(t, len(tt.payload), st.LastPublishRefusal.Bytes)
			msgs := h.Messages("PLIM000001", dn)
			require.Len(t, msgs, 2)
			assert.True(t, msgs[1].Denied)
			assert.Equal(t, st.LastPublishRefusal.Reason, msgs[1].Reason)
			waitFor(t, "status offline", func() bool { return !h.Status("PLIM000001", dn).Connected })

			r = connectRaw(t, h, "PLIM000001", dn)
			r.send(rawPublish("PLIM000001/"+dn+"/event", 1, 3, []byte("next")))
			assert.Equal(t, puback(3), r.read(), "the next connection works")
		})
	}
}

func deniedCount(s Status) int64      { return s.DeniedPublishes }
func oversizeCount(s Status) int64    { return s.OversizePublishes }
func rateLimitedCount(s Status) int64 { return s.RateLimitedPublishes }

func TestPayloadLimitBoundary(t *testing.T) {
	t.Run("default 16 KiB", func(t *testing.T) {
		h := startHub(t, "")
		_, err := h.CreateDevice("PLIM000002", "dev", false)
		require.NoError(t, err)
		r := connectRaw(t, h, "PLIM000002", "dev")
		r.send(rawPublish("PLIM000002/dev/event", 1, 1, make([]byte, 16384)))
		assert.Equal(t, puback(1), r.read(), "exactly 16384 bytes is within the limit")
		r.send(rawPublish("PLIM000002/dev/event", 1, 2, make([]byte, 16385)))
		r.expectClosed()
		msgs := h.Messages("PLIM000002", "dev")
		require.Len(t, msgs, 2)
		assert.Empty(t, msgs[1].Payload, "an oversize payload is not kept")
		assert.Contains(t, msgs[1].Reason, "16385 bytes")
	})
	t.Run("configured", func(t *testing.T) {
		h := startHubWith(t, Config{MaxPayload: 100})
		assert.Equal(t, 100, h.Limits().MaxPayload)
		_, err := h.CreateDevice("PLIM000002", "dev", false)
		require.NoError(t, err)
		r := connectRaw(t, h, "PLIM000002", "dev")
		r.send(rawPublish("PLIM000002/dev/event", 1, 1, make([]byte, 100)))
		assert.Equal(t, puback(1), r.read())
		r.send(rawPublish("PLIM000002/dev/event", 0, 0, make([]byte, 101)), pingreq)
		r.expectClosed()
	})
	t.Run("unlimited", func(t *testing.T) {
		h := startHubWith(t, Config{MaxPayload: -1})
		assert.Zero(t, h.Limits().MaxPayload)
		_, err := h.CreateDevice("PLIM000002", "dev", false)
		require.NoError(t, err)
		r := connectRaw(t, h, "PLIM000002", "dev")
		r.send(rawPublish("PLIM000002/dev/event", 1, 1, make([]byte, 1<<20)))
		assert.Equal(t, puback(1), r.read())
	})
}

// fakeClock is a settable clock for the rate limiter.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestPublishRateLimit: the token bucket is per client id and outlives the
// connection; exceeding it closes the connection without a PUBACK.
func TestPublishRateLimit(t *testing.T) {
	h := startHubWith(t, Config{PublishRate: 1, PublishBurst: 3})
	clk := &fakeClock{t: time.Unix(1000, 0)}
	h.limiter.setClock(clk.now)
	for _, dn := range []string{"dev", "other"} {
		_, err := h.CreateDevice("PLIM000003", dn, false)
		require.NoError(t, err)
	}

	r := connectRaw(t, h, "PLIM000003", "dev")
	for id := uint16(1); id <= 3; id++ {
		r.send(rawPublish("PLIM000003/dev/event", 1, id, []byte("x")))
		require.Equal(t, puback(id), r.read(), "within the burst")
	}
	r.send(rawPublish("PLIM000003/dev/event", 1, 4, []byte("x")))
	r.expectClosed()
	st := h.Status("PLIM000003", "dev")
	assert.Equal(t, int64(1), rateLimitedCount(st))
	require.NotNil(t, st.LastPublishRefusal)
	assert.Equal(t, PublishRateLimited, st.LastPublishRefusal.Code)

	t.Run("another device has its own bucket", func(t *testing.T) {
		o := connectRaw(t, h, "PLIM000003", "other")
		for id := uint16(1); id <= 3; id++ {
			o.send(rawPublish("PLIM000003/other/event", 1, id, []byte("x")))
			require.Equal(t, puback(id), o.read())
		}
	})
	t.Run("reconnecting does not refill the bucket", func(t *testing.T) {
		r := connectRaw(t, h, "PLIM000003", "dev")
		r.send(pingreq)
		assert.Equal(t, []byte{0xd0, 0x00}, r.read(), "the connection works")
		r.send(rawPublish("PLIM000003/dev/event", 0, 0, []byte("x")), pingreq)
		r.expectClosed()
		assert.Equal(t, int64(2), rateLimitedCount(h.Status("PLIM000003", "dev")))
	})
	t.Run("the bucket refills at the rate", func(t *testing.T) {
		clk.add(time.Second)
		r := connectRaw(t, h, "PLIM000003", "dev")
		r.send(rawPublish("PLIM000003/dev/event", 1, 5, []byte("x")))
		assert.Equal(t, puback(5), r.read())
		r.send(rawPublish("PLIM000003/dev/event", 1, 6, []byte("x")))
		r.expectClosed()
	})
}

func TestPublishLimitsConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want Limits
	}{
		{"defaults", Config{}, Limits{MaxPayload: 16384, PublishRate: 30, PublishBurst: 60}},
		{"rate without burst: two seconds' worth", Config{PublishRate: 1000}, Limits{MaxPayload: 16384, PublishRate: 1000, PublishBurst: 2000}},
		{"slow rate: a burst of at least 1", Config{PublishRate: 0.1}, Limits{MaxPayload: 16384, PublishRate: 0.1, PublishBurst: 1}},
		{"explicit", Config{MaxPayload: 1024, PublishRate: 5, PublishBurst: 7}, Limits{MaxPayload: 1024, PublishRate: 5, PublishBurst: 7}},
		{"unlimited", Config{MaxPayload: -1, PublishRate: -1}, Limits{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHubWith(t, tt.cfg)
			assert.Equal(t, tt.want, h.Limits())
			info, err := NewClient(h.AdminURL()).Info(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tt.want, info.Limits)
		})
	}

	t.Run("no rate limit", func(t *testing.T) {
		h := startHubWith(t, Config{PublishRate: -1})
		_, err := h.CreateDevice("PLIM000004", "dev", false)
		require.NoError(t, err)
		r := connectRaw(t, h, "PLIM000004", "dev")
		var burst []byte
		for range 1000 {
			burst = append(burst, rawPublish("PLIM000004/dev/event", 0, 0, []byte("x"))...)
		}
		r.send(burst, pingreq)
		assert.Equal(t, []byte{0xd0, 0x00}, r.read())
		assert.Equal(t, int64(1000), h.Status("PLIM000004", "dev").Published)
	})
}

func TestLimiter(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	l := newLimiter(2, 2, clk.now)
	assert.True(t, l.allow("a"))
	assert.True(t, l.allow("a"))
	assert.False(t, l.allow("a"), "burst used up")
	assert.True(t, l.allow("b"), "per client id")
	clk.add(500 * time.Millisecond)
	assert.True(t, l.allow("a"), "one token after 1/rate")
	assert.False(t, l.allow("a"))
	clk.add(time.Hour)
	assert.True(t, l.allow("a"))
	assert.True(t, l.allow("a"))
	assert.False(t, l.allow("a"), "refill stops at the burst")
	assert.True(t, newLimiter(-1, 0, clk.now).allow("a"), "no limit")
}
