package timesync

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    reply
		wantErr string
	}{
		{"full", `{"type":"get","time":1603334906,"ntptime1":1603334906594,"ntptime2":1603334906600}`,
			reply{Type: "get", Time: 1603334906, NTPTime1: 1603334906594, NTPTime2: 1603334906600}, ""},
		{"old hub, time only", `{"type":"get","time":1603334906}`, reply{Type: "get", Time: 1603334906}, ""},
		{"quoted numbers", `{"type":"get","time":"1603334906","ntptime1":"1","ntptime2":"2"}`,
			reply{Type: "get", Time: 1603334906, NTPTime1: 1, NTPTime2: 2}, ""},
		{"send before receive falls back", `{"type":"get","time":5,"ntptime1":9,"ntptime2":8}`, reply{Type: "get", Time: 5}, ""},
		{"not json", `{"type":`, reply{}, "not a JSON object"},
		{"array", `[1]`, reply{}, "not a JSON object"},
		{"wrong type", `{"type":"set","time":1}`, reply{}, `type "set"`},
		{"no time", `{"type":"get"}`, reply{}, "time missing"},
		{"float time", `{"type":"get","time":1.5}`, reply{}, "not an integer"},
		{"negative", `{"type":"get","time":-5}`, reply{}, "negative"},
		{"bool time", `{"type":"get","time":true}`, reply{}, "neither a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReply([]byte(tt.in))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseReply(f *testing.F) {
	f.Add([]byte(`{"type":"get","time":1603334906,"ntptime1":1603334906594,"ntptime2":1603334906594}`))
	f.Add([]byte(`{"type":"get","time":"1"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseReply(b)
		if err == nil {
			if r.Time <= 0 || r.Type != "get" || r.NTPTime2 < r.NTPTime1 {
				t.Fatalf("accepted an unusable reply %+v", r)
			}
		}
	})
}

func TestEstimate(t *testing.T) {
	local := time.Unix(1000, 0)
	// The server is 1 h ahead; 40 ms each way; the server took 20 ms.
	t0 := local
	t1 := t0.Add(time.Hour + 40*time.Millisecond)
	t2 := t1.Add(20 * time.Millisecond)
	t3 := t0.Add(100 * time.Millisecond)
	off, rtt := estimate(reply{Time: t2.Unix(), NTPTime1: t1.UnixMilli(), NTPTime2: t2.UnixMilli()}, t0, t3)
	assert.Equal(t, time.Hour, off)
	assert.Equal(t, 80*time.Millisecond, rtt)

	// Seconds only: server time + RTT/2.
	off, rtt = estimate(reply{Time: 1000 + 3600}, t0, t3)
	assert.Equal(t, 100*time.Millisecond, rtt)
	assert.Equal(t, time.Hour-50*time.Millisecond, off)
}

// hub answers the uplink's bus protocol the way the uplink would after
// talking to the real hub: it acknowledges subscriptions, and answers a time
// request on the result topic with a clock skewed by skew.
func hub(ctx context.Context, t *testing.T, b *bus.Bus, skew time.Duration) {
	subs, err := b.Subscribe(ctx, bus.TopicUplinkSubscribe)
	require.NoError(t, err)
	pubs, err := b.Subscribe(ctx, bus.TopicUplinkPublish)
	require.NoError(t, err)
	go func() {
		for {
			select {
			case m, ok := <-subs:
				if !ok {
					return
				}
				m.Ack()
				_ = b.Reply(m, nil)
			case m, ok := <-pubs:
				if !ok {
					return
				}
				m.Ack()
				_ = b.Reply(m, nil)
				if m.Metadata.Get(bus.MetaTopic) != "$sys/operation/P1/d1" || string(m.Payload) != requestBody {
					continue
				}
				now := time.Now().Add(skew)
				body := fmt.Sprintf(`{"type":"get","time":%d,"ntptime1":%d,"ntptime2":%d}`, now.Unix(), now.UnixMilli(), now.UnixMilli())
				out := message.NewMessage(watermill.NewUUID(), []byte(body))
				out.Metadata.Set(bus.MetaTopic, "$sys/operation/result/P1/d1")
				_ = b.Publish(bus.Downlink("$sys/operation/result/P1/d1"), out)
			}
		}
	}()
}

func TestSyncSetsClockAndResyncsOnReconnect(t *testing.T) {
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hub(ctx, t, b, -72*time.Hour)

	offsets, err := b.Subscribe(ctx, bus.TopicClockOffset)
	require.NoError(t, err)
	var clock core.Clock
	s, err := New(Config{}, b, &clock, "P1", "d1", nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	next := func() bus.ClockOffset {
		select {
		case m := <-offsets:
			m.Ack()
			var o bus.ClockOffset
			require.NoError(t, bus.DecodeEvent(m, &o))
			return o
		case <-ctx.Done():
			t.Fatal("no clock offset published")
		}
		return bus.ClockOffset{}
	}
	o := next()
	assert.InDelta(t, float64(-72*time.Hour), float64(o.Offset), float64(time.Second))
	assert.Equal(t, o.Offset, clock.Offset())

	// A reconnect after the last sync triggers a new one.
	b.PublishLinkState(linkstate.State{State: linkstate.Connected, Since: time.Now()})
	next()

	cancel()
	require.NoError(t, <-done)
}

func TestConfigValidate(t *testing.T) {
	assert.NoError(t, Config{}.Validate())
	assert.Error(t, Config{Interval: time.Millisecond}.Validate())
	assert.Error(t, Config{Timeout: -1}.Validate())
}
