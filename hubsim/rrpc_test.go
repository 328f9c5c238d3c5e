package hubsim

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rrpcDevice answers every RRPC request with "re:" + payload after the
// delay the payload names ("slow" waits, anything else answers at once), so
// replies can come back in another order than the requests went out.
func rrpcDevice(t *testing.T, cl paho.Client, pid, dn string) {
	t.Helper()
	tok := cl.Subscribe("$rrpc/rxd/"+pid+"/"+dn+"/+", 0, func(c paho.Client, m paho.Message) {
		id := m.Topic()[strings.LastIndexByte(m.Topic(), '/')+1:]
		payload := string(m.Payload())
		go func() {
			if payload == "slow" {
				time.Sleep(300 * time.Millisecond)
			}
			c.Publish("$rrpc/txd/"+pid+"/"+dn+"/"+id, 0, false, "re:"+payload).Wait()
		}()
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
}

func TestRRPCConcurrentCalls(t *testing.T) {
	h := startHub(t, "")
	_, err := h.CreateDevice("PRRPC00001", "dev", false)
	require.NoError(t, err)
	rrpcDevice(t, connectKey(t, h, tcpConn(h), "PRRPC00001", "dev"), "PRRPC00001", "dev")

	c := NewClient(h.AdminURL())
	payloads := []string{"slow", "fast", "slow", "fast", "x"}
	replies := make([]RRPCReply, len(payloads))
	var wg sync.WaitGroup
	for i, p := range payloads {
		wg.Go(func() {
			r, err := c.RRPC(context.Background(), "PRRPC00001", "dev", []byte(p), 10*time.Second)
			assert.NoError(t, err)
			replies[i] = r
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for i, p := range payloads {
		assert.Equal(t, "re:"+p, string(replies[i].PayloadBytes()), "call %d", i)
		assert.NotEmpty(t, replies[i].ProcessID)
		assert.LessOrEqual(t, len(replies[i].ProcessID), 16)
		ids[replies[i].ProcessID] = true
	}
	assert.Len(t, ids, len(payloads), "every call has its own process id")
}

func TestRRPCErrors(t *testing.T) {
	h := startHub(t, "")
	for _, dn := range []string{"silent", "unsub", "off"} {
		_, err := h.CreateDevice("PRRPC00002", dn, false)
		require.NoError(t, err)
	}
	// silent subscribes but never answers; unsub does not subscribe.
	silent := connectKey(t, h, tcpConn(h), "PRRPC00002", "silent")
	subscribe(t, silent, "$rrpc/rxd/PRRPC00002/silent/+", 0, make(inbox, 8))
	connectKey(t, h, tcpConn(h), "PRRPC00002", "unsub")
	c := NewClient(h.AdminURL())

	tests := []struct {
		name      string
		dn        string
		timeout   string
		wantErr   error
		wantInErr string
	}{
		{"no answer", "silent", "200ms", ErrRRPCTimeout, "after 200ms"},
		{"not subscribed", "unsub", "200ms", ErrRRPCTimeout, "not subscribed to $rrpc/rxd/PRRPC00002/unsub/+"},
		{"offline", "off", "", nil, "is offline"},
		{"unknown device", "nobody", "", nil, "not found"},
		{"bad timeout", "silent", "soon", nil, "timeout \"soon\""},
		{"timeout too long", "silent", "1h", nil, "at most 5m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.timeout == "" || strings.HasSuffix(tt.timeout, "ms") {
				d, _ := time.ParseDuration(tt.timeout)
				_, err = c.RRPC(context.Background(), "PRRPC00002", tt.dn, []byte("x"), d)
			} else {
				err = c.do(context.Background(), "POST", devicePath("PRRPC00002", tt.dn)+"/rrpc?timeout="+tt.timeout, []byte("x"), nil)
			}
			require.Error(t, err)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			} else {
				assert.NotErrorIs(t, err, ErrRRPCTimeout)
			}
			assert.ErrorContains(t, err, tt.wantInErr)
		})
	}

	// A late reply for a call that timed out is ignored, and nothing breaks.
	publish(t, silent, "$rrpc/txd/PRRPC00002/silent/123", 0, "late")
	rrpcDevice(t, connectKey(t, h, tcpConn(h), "PRRPC00002", "unsub"), "PRRPC00002", "unsub")
	r, err := c.RRPC(context.Background(), "PRRPC00002", "unsub", []byte("ok?"), 0)
	require.NoError(t, err)
	assert.Equal(t, "re:ok?", string(r.PayloadBytes()))
}

func TestParseRRPCReplyTopic(t *testing.T) {
	tests := []struct {
		name, topic string
		dev         DeviceRef
		id          string
		ok          bool
	}{
		{"reply", "$rrpc/txd/P1/d1/42", DeviceRef{ProductID: "P1", DeviceName: "d1"}, "42", true},
		{"request topic", "$rrpc/rxd/P1/d1/42", DeviceRef{}, "", false},
		{"no id", "$rrpc/txd/P1/d1/", DeviceRef{}, "", false},
		{"short", "$rrpc/txd/P1/d1", DeviceRef{}, "", false},
		{"long", "$rrpc/txd/P1/d1/4/2", DeviceRef{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, id, err := ParseRRPCReplyTopic(tt.topic)
			if !tt.ok {
				assert.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.dev, dev)
			assert.Equal(t, tt.id, id)
		})
	}
}

func FuzzParseRRPCReplyTopic(f *testing.F) {
	f.Add("$rrpc/txd/P1/d1/42")
	f.Add("$rrpc/txd//d1/42")
	f.Fuzz(func(t *testing.T, topic string) {
		dev, id, err := ParseRRPCReplyTopic(topic)
		if err != nil {
			return
		}
		if "$rrpc/txd/"+dev.ProductID+"/"+dev.DeviceName+"/"+id != topic || id == "" || strings.Contains(id, "/") {
			t.Fatalf("%q parsed as %v %q", topic, dev, id)
		}
	})
}

func TestParseRRPCTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", DefaultRRPCTimeout, true},
		{"2s", 2 * time.Second, true},
		{"7", 7 * time.Second, true},
		{"0s", 0, false},
		{"-1s", 0, false},
		{"6m", 0, false},
		{"abc", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRRPCTimeout(tt.in)
			if !tt.ok {
				assert.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
