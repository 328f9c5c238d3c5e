package hubsim

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConnackBytes sends raw CONNECTs and asserts the exact answer: the hub
// speaks MQTT 3.1.1 only, so every CONNACK is the 4-byte 3.1.1 packet with
// a return code from 0 to 5, and a malformed CONNECT gets no CONNACK at all.
func TestConnackBytes(t *testing.T) {
	h := startHub(t, "")
	for _, dn := range []string{"dev", "off"} {
		_, err := h.CreateDevice("PRAW000001", dn, false)
		require.NoError(t, err)
	}
	require.NoError(t, h.Store().SetDisabled("PRAW000001", "off", true))
	_, err := h.CreateDevice("PRAW000002", "cert", true)
	require.NoError(t, err)

	ok := validConnect(t, h, "PRAW000001", "dev")
	with := func(f func(*rawConnect)) rawConnect {
		c := ok
		f(&c)
		return c
	}
	otherUser, _ := signUsername(t, "PRAW000001off", "21010406", testNow.Add(time.Hour).Unix(), "AAAAAAAAAAAAAAAAAAAAAA==", "hmacsha256")
	disabled := validConnect(t, h, "PRAW000001", "off")
	certUser, _ := signUsername(t, "PRAW000002cert", "21010406", testNow.Add(time.Hour).Unix(), "AAAAAAAAAAAAAAAAAAAAAA==", "hmacsha256")

	tests := []struct {
		name    string
		connect rawConnect
		want    []byte // nil: closed without a CONNACK
		reason  string // part of the recorded refusal reason
	}{
		{"MQTT 3.1.1", ok, connackOK, ""},
		{"MQTT 3.1 (MQIsdp, level 3)", with(func(c *rawConnect) { c.name, c.level = "MQIsdp", 3 }), connackOK, ""},
		{"a will, even retained, is accepted and ignored",
			with(func(c *rawConnect) {
				c.flags |= flagWill | flagWillRetain
				c.willTopic, c.willMsg = "PRAW000001/dev/will", "bye"
			}),
			connackOK, ""},
		{"MQTT 5", with(func(c *rawConnect) { c.level = 5 }), []byte{0x20, 0x02, 0x00, 0x01}, "MQTT 5"},
		{"MQTT 5 with a wrong password", with(func(c *rawConnect) { c.level = 5; c.pass = "00;hmacsha256" }),
			[]byte{0x20, 0x02, 0x00, 0x01}, "MQTT 5"},
		{"name MQTT at level 3", with(func(c *rawConnect) { c.level = 3 }), []byte{0x20, 0x02, 0x00, 0x01}, "level 3"},
		{"name MQIsdp at level 4", with(func(c *rawConnect) { c.name = "MQIsdp" }), []byte{0x20, 0x02, 0x00, 0x01}, "level 4"},
		{"level 6", with(func(c *rawConnect) { c.level = 6 }), []byte{0x20, 0x02, 0x00, 0x01}, "level 6"},
		{"protocol name not MQTT", with(func(c *rawConnect) { c.name = "MQTX" }), nil, "not MQTT"},
		{"reserved flag set", with(func(c *rawConnect) { c.flags |= flagReserved }), nil, "reserved flag"},
		{"will retain without a will", with(func(c *rawConnect) { c.flags |= flagWillRetain }), nil, "without a will"},
		{"password without a username", with(func(c *rawConnect) { c.flags &^= flagUsername }), nil, "password without a username"},
		{"empty client id", with(func(c *rawConnect) { c.id = "" }), []byte{0x20, 0x02, 0x00, 0x02}, "empty client id"},
		{"empty client id, persistent session", with(func(c *rawConnect) { c.id = ""; c.flags &^= flagClean }),
			[]byte{0x20, 0x02, 0x00, 0x02}, "empty client id"},
		{"unknown client id", with(func(c *rawConnect) { c.id = "PRAW000001nobody" }), []byte{0x20, 0x02, 0x00, 0x02}, "unknown client id"},
		{"username names another client", with(func(c *rawConnect) { c.user = otherUser }), []byte{0x20, 0x02, 0x00, 0x02}, "username names"},
		{"wrong signature", with(func(c *rawConnect) { c.pass = "00;hmacsha256" }), []byte{0x20, 0x02, 0x00, 0x04}, "signature does not match"},
		{"no username", with(func(c *rawConnect) { c.flags &^= flagUsername | flagPassword }), []byte{0x20, 0x02, 0x00, 0x04}, "no username"},
		{"disabled device", disabled, []byte{0x20, 0x02, 0x00, 0x05}, "disabled"},
		{"cert device over plain TCP", rawConnect{flags: flagClean | flagUsername, id: "PRAW000002cert", user: certUser},
			[]byte{0x20, 0x02, 0x00, 0x05}, "plain TCP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dialRaw(t, h)
			r.send(tt.connect.bytes())
			if tt.want == nil {
				r.expectClosed()
			} else {
				assert.Equal(t, tt.want, r.read())
			}
			if tt.reason == "" {
				r.send(pingreq)
				assert.Equal(t, []byte{0xd0, 0x00}, r.read(), "the session works")
				return
			}
			if tt.want != nil {
				r.expectClosed()
			}
			refusals := h.Refusals()
			require.NotEmpty(t, refusals)
			last := refusals[len(refusals)-1]
			assert.Contains(t, last.Reason, tt.reason)
			if tt.want == nil {
				assert.Zero(t, last.Code)
			} else {
				assert.Equal(t, tt.want[3], last.Code)
			}
		})
	}
}

// TestSessionTakeoverSendsNoDisconnect: a second connection with the same
// client id closes the first one with nothing written to it (a 3.1.1
// server never sends DISCONNECT), and the second one works.
func TestSessionTakeoverSendsNoDisconnect(t *testing.T) {
	h := startHub(t, "")
	_, err := h.CreateDevice("PRAW000003", "dev", false)
	require.NoError(t, err)
	first := connectRaw(t, h, "PRAW000003", "dev")
	second := connectRaw(t, h, "PRAW000003", "dev")
	first.expectClosed()
	second.send(rawPublish("PRAW000003/dev/event", 1, 7, []byte("x")))
	assert.Equal(t, puback(7), second.read())
	waitFor(t, "status connected", func() bool { return h.Status("PRAW000003", "dev").Connected })
}

// TestShutdownSendsNoDisconnect: closing the hub closes every connection
// with nothing written to it.
func TestShutdownSendsNoDisconnect(t *testing.T) {
	h := startHub(t, "")
	_, err := h.CreateDevice("PRAW000004", "dev", false)
	require.NoError(t, err)
	r := connectRaw(t, h, "PRAW000004", "dev")
	require.NoError(t, h.Close())
	r.expectClosed()
}

// TestConnackSafetyNet: should mochi itself refuse a CONNECT, its MQTT 5
// reason code is mapped to a 3.1.1 return code and no properties are sent.
func TestConnackSafetyNet(t *testing.T) {
	h := startHub(t, "")
	k := &hook{h: h}
	tests := []struct {
		mochi packets.Code
		want  byte
	}{
		{packets.ErrUnsupportedProtocolVersion, CodeUnacceptableProtocol},
		{packets.ErrProtocolViolationProtocolName, CodeUnacceptableProtocol},
		{packets.ErrClientIdentifierNotValid, CodeIdentifierRejected},
		{packets.ErrServerUnavailable, CodeServerUnavailable},
		{packets.ErrServerBusy, CodeServerUnavailable},
		{packets.ErrUnspecifiedError, CodeServerUnavailable},
		{packets.ErrRetainNotSupported, CodeServerUnavailable},
		{packets.ErrMalformedUsername, CodeBadCredentials},
		{packets.ErrBadUsernameOrPassword, CodeBadCredentials},
		{packets.ErrNotAuthorized, CodeNotAuthorized},
		{packets.ErrBanned, CodeNotAuthorized},
		{packets.Code{Code: CodeNotAuthorized}, CodeNotAuthorized},
		{packets.CodeSuccess, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%#x", tt.mochi.Code), func(t *testing.T) {
			pk := k.OnPacketEncode(&mqtt.Client{}, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack},
				ProtocolVersion: 5, ReasonCode: tt.mochi.Code, SessionPresent: true})
			assert.Equal(t, tt.want, pk.ReasonCode)
			var buf bytes.Buffer
			require.NoError(t, pk.ConnackEncode(&buf))
			assert.Equal(t, []byte{0x20, 0x02, map[bool]byte{true: 1}[tt.want == 0], tt.want}, buf.Bytes())
		})
	}
}
