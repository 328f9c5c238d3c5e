package hubsim

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inbox collects messages a paho client receives.
type inbox chan paho.Message

func (in inbox) handler(_ paho.Client, m paho.Message) { in <- m }

func (in inbox) next(t *testing.T) paho.Message {
	t.Helper()
	select {
	case m := <-in:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message arrived")
		return nil
	}
}

func subscribe(t *testing.T, cl paho.Client, filter string, qos byte, in inbox) byte {
	t.Helper()
	tok := cl.Subscribe(filter, qos, in.handler)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func publish(t *testing.T, cl paho.Client, topic string, qos byte, payload string) {
	t.Helper()
	tok := cl.Publish(topic, qos, false, payload)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
}

func TestACL(t *testing.T) {
	h := startHub(t, "")
	for _, dn := range []string{"alice", "bob"} {
		_, err := h.CreateDevice("PACL000001", dn, false)
		require.NoError(t, err)
	}
	alice := connectKey(t, h, tcpConn(h), "PACL000001", "alice")
	bob := connectKey(t, h, tlsConn(t, h, caConfig(t, h)), "PACL000001", "bob")

	tests := []struct {
		name   string
		filter string
		qos    byte
		want   byte
	}{
		{"own data topic", "PACL000001/alice/data", 1, 1},
		{"own wildcard", "PACL000001/alice/#", 0, 0},
		{"own shadow result", "$shadow/operation/result/PACL000001/alice", 0, 0},
		{"own rrpc requests", "$rrpc/rxd/PACL000001/alice/+", 0, 0},
		{"own broadcast", "$broadcast/rxd/PACL000001/alice", 1, 1},
		{"another device's topic", "PACL000001/bob/control", 0, 0x80},
		{"another device's system topic", "$sys/operation/result/PACL000001/bob", 0, 0x80},
		{"everything", "#", 0, 0x80},
		{"wildcard across devices", "PACL000001/+/control", 0, 0x80},
		{"broker $SYS", "$SYS/broker/uptime", 0, 0x80},
		{"qos 2 is not supported", "PACL000001/alice/q2", 2, 0x80},
		{"longer than 128", "PACL000001/alice/" + strings.Repeat("x", 120), 0, 0x80},
	}
	in := make(inbox, 16)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, subscribe(t, alice, tt.filter, tt.qos, in))
		})
	}
	st := h.Status("PACL000001", "alice")
	assert.Equal(t, int64(7), st.DeniedSubscribes)
	assert.Contains(t, st.Subscriptions, "PACL000001/alice/data")
	assert.NotContains(t, st.Subscriptions, "PACL000001/bob/control")

	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("publish to another device's topic closes the connection, qos %d", qos), func(t *testing.T) {
			bobIn := make(inbox, 4)
			assert.Equal(t, byte(1), subscribe(t, bob, "PACL000001/bob/control", 1, bobIn))
			alice := connectKey(t, h, tcpConn(h), "PACL000001", "alice")
			before := h.Status("PACL000001", "alice")
			publishRefused(t, alice, "PACL000001/bob/control", qos, "intrusion")
			// A marker through the hub proves bob's queue was drained up to here.
			require.NoError(t, h.Publish("PACL000001/bob/control", []byte("marker"), 1))
			assert.Equal(t, "marker", string(bobIn.next(t).Payload()))
			st := h.Status("PACL000001", "alice")
			assert.Equal(t, before.DeniedPublishes+1, st.DeniedPublishes)
			require.NotNil(t, st.LastPublishRefusal)
			assert.Equal(t, PublishUnauthorized, st.LastPublishRefusal.Code)
			msgs := h.Messages("PACL000001", "alice")
			last := msgs[len(msgs)-1]
			assert.True(t, last.Denied)
			assert.Equal(t, "PACL000001/bob/control", last.Topic)
			assert.Equal(t, "topic outside the device's ACL", last.Reason)

			// The next connection works.
			alice = connectKey(t, h, tcpConn(h), "PACL000001", "alice")
			publish(t, alice, "PACL000001/alice/event", 1, "ok")
			alice.Disconnect(100)
			msgs = h.Messages("PACL000001", "alice")
			assert.Equal(t, Record{Time: testNow, Direction: Up, Topic: "PACL000001/alice/event", QoS: 1, Payload: "ok"}, msgs[len(msgs)-1])
		})
	}

	t.Run("own loopback topic is delivered", func(t *testing.T) {
		data := make(inbox, 4)
		subscribe(t, bob, "PACL000001/bob/data", 1, data)
		publish(t, bob, "PACL000001/bob/data", 1, `{"action":"publish_test","count":"0"}`)
		m := data.next(t)
		assert.Equal(t, `{"action":"publish_test","count":"0"}`, string(m.Payload()))
	})
}

// publishRefused publishes and asserts the hub closed the connection for
// it: a QoS 1 publish is not acknowledged.
func publishRefused(t *testing.T, cl paho.Client, topic string, qos byte, payload string) {
	t.Helper()
	tok := cl.Publish(topic, qos, false, payload)
	require.True(t, tok.WaitTimeout(10*time.Second))
	if qos > 0 {
		require.Error(t, tok.Error(), "a refused publish must not be acknowledged")
	}
	waitFor(t, "the hub to close the connection", func() bool { return !cl.IsConnectionOpen() })
}

func TestQoS2PublishClosesConnection(t *testing.T) {
	h := startHub(t, "")
	_, err := h.CreateDevice("PQOS000001", "dev", false)
	require.NoError(t, err)
	lost := make(chan struct{}, 1)
	c := tcpConn(h)
	c.opts.SetConnectionLostHandler(func(paho.Client, error) { lost <- struct{}{} })
	cl := connectKey(t, h, c, "PQOS000001", "dev")
	cl.Publish("PQOS000001/dev/event", 2, false, "x")
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("a QoS 2 publish must be refused")
	}
	assert.Equal(t, int64(1), h.Status("PQOS000001", "dev").DeniedPublishes)
}

func TestTimeService(t *testing.T) {
	h := startHub(t, "")
	_, err := h.CreateDevice("PTIME00001", "dev", false)
	require.NoError(t, err)
	cl := connectKey(t, h, tlsConn(t, h, caConfig(t, h)), "PTIME00001", "dev")
	in := make(inbox, 4)
	assert.Equal(t, byte(0), subscribe(t, cl, "$sys/operation/result/PTIME00001/dev", 0, in))

	publish(t, cl, "$sys/operation/PTIME00001/dev", 0, `{"type": "not-json`) // ignored
	publish(t, cl, "$sys/operation/PTIME00001/dev", 0, `{"type": "get", "resource": ["time"]}`)
	m := in.next(t)
	assert.Equal(t, "$sys/operation/result/PTIME00001/dev", m.Topic())
	var got map[string]any
	require.NoError(t, json.Unmarshal(m.Payload(), &got))
	assert.Equal(t, map[string]any{
		"type":     "get",
		"time":     float64(testNow.Unix()),
		"ntptime1": float64(testNow.UnixMilli()),
		"ntptime2": float64(testNow.UnixMilli()),
	}, got)

	msgs := h.Messages("PTIME00001", "dev")
	require.Len(t, msgs, 3)
	assert.Equal(t, Up, msgs[1].Direction)
	assert.Equal(t, "$sys/operation/PTIME00001/dev", msgs[1].Topic)
	assert.Equal(t, Down, msgs[2].Direction)
	assert.Equal(t, string(m.Payload()), msgs[2].Payload)

	t.Run("qos 1 request is acknowledged and answered", func(t *testing.T) {
		publish(t, cl, "$sys/operation/PTIME00001/dev", 1, `{"type":"get","resource":["time"]}`)
		assert.Contains(t, string(in.next(t).Payload()), `"ntptime2"`)
	})
	t.Run("no cross-device requests", func(t *testing.T) {
		_, err := h.CreateDevice("PTIME00001", "other", false)
		require.NoError(t, err)
		other := connectKey(t, h, tcpConn(h), "PTIME00001", "other")
		publishRefused(t, other, "$sys/operation/PTIME00001/dev", 1, `{"type":"get","resource":["time"]}`)
		assert.Equal(t, int64(1), h.Status("PTIME00001", "other").DeniedPublishes)
		select {
		case m := <-in:
			t.Fatalf("a reply to another device's request arrived: %s", m.Payload())
		default:
		}
	})
}

func TestHubPublishToDevice(t *testing.T) {
	h := startHub(t, "")
	_, err := h.CreateDevice("PPUB000001", "dev", false)
	require.NoError(t, err)
	cl := connectKey(t, h, tcpConn(h), "PPUB000001", "dev")
	in := make(inbox, 4)
	subscribe(t, cl, "PPUB000001/dev/control", 1, in)

	require.NoError(t, h.Publish("PPUB000001/dev/control", []byte(`{"cmd":"on"}`), 1))
	m := in.next(t)
	assert.Equal(t, `{"cmd":"on"}`, string(m.Payload()))
	assert.Equal(t, byte(1), m.Qos())
	assert.Equal(t, int64(1), h.Status("PPUB000001", "dev").Received)

	assert.ErrorIs(t, h.Publish("PPUB000001/dev/control", nil, 2), ErrInvalid)
	assert.ErrorIs(t, h.Publish(strings.Repeat("x", 129), nil, 0), ErrInvalid)
}
