package main

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/testlog"
)

func TestServeLimitFlags(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		line  string
		want  hubsim.Limits
	}{
		{"defaults", nil, "payload up to 16384 bytes, publish rate 30/s, burst 60",
			hubsim.Limits{MaxPayload: 16384, PublishRate: 30, PublishBurst: 60}},
		{"raised for a benchmark", []string{"--publish-rate", "5000", "--max-payload", "65536"},
			"payload up to 65536 bytes, publish rate 5000/s, burst 10000",
			hubsim.Limits{MaxPayload: 65536, PublishRate: 5000, PublishBurst: 10000}},
		{"explicit burst", []string{"--publish-rate", "2", "--publish-burst", "5"}, "payload up to 16384 bytes, publish rate 2/s, burst 5",
			hubsim.Limits{MaxPayload: 16384, PublishRate: 2, PublishBurst: 5}},
		{"off", []string{"--publish-rate", "-1", "--max-payload", "-1"}, "payload unlimited, publish rate unlimited", hubsim.Limits{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cmd := newRootCmd()
			out := &testlog.Buffer{}
			cmd.SetOut(out)
			cmd.SetErr(io.Discard)
			cmd.SetArgs(append([]string{"serve", "--state", t.TempDir(), "--admin", "127.0.0.1:0",
				"--tls", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--coap", "-", "--log-level", "error"}, tt.flags...))
			done := make(chan error, 1)
			go func() { done <- cmd.ExecuteContext(ctx) }()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(out.String(), "per device") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			assert.Contains(t, out.String(), "hubsim: per device: "+tt.line+"\n")
			m := regexp.MustCompile(`admin (http://\S+),`).FindStringSubmatch(out.String())
			require.Len(t, m, 2, out.String())
			info, err := hubsim.NewClient(m[1]).Info(ctx)
			require.NoError(t, err)
			assert.Equal(t, tt.want, info.Limits)
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not stop")
			}
		})
	}
}

// TestDeviceShowsPublishRefusal: a publish over the payload limit closes
// the device's connection; `device show` and `messages` say why.
func TestDeviceShowsPublishRefusal(t *testing.T) {
	h := startHub(t, t.TempDir())
	info, err := h.CreateDevice("PCLI000009", "dev", false)
	require.NoError(t, err)
	cr, err := core.MQTTCredentials(info, core.CredentialOptions{})
	require.NoError(t, err)
	lost := make(chan struct{}, 1)
	cl := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + h.TCPAddr()).SetClientID(cr.ClientID).
		SetUsername(cr.Username).SetPassword(cr.Password).SetAutoReconnect(false).SetProtocolVersion(4).
		SetConnectionLostHandler(func(paho.Client, error) { lost <- struct{}{} }))
	tok := cl.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	defer cl.Disconnect(0)

	tok = cl.Publish("PCLI000009/dev/event", 1, false, strings.Repeat("x", hubsim.DefaultMaxPayload+1))
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.Error(t, tok.Error(), "no PUBACK")
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was not closed")
	}

	stdout, err := run(t, "device", "show", "PCLI000009/dev", "--admin", h.AdminURL())
	require.NoError(t, err)
	assert.Contains(t, stdout, "refused:       1 publishes over the payload limit, 0 over the rate")
	assert.Regexp(t, `last kick: .* publish to PCLI000009/dev/event \(q1, 16385 bytes\), error 132, connection closed: payload of 16385 bytes is over the hub's limit of 16384`, stdout)
	stdout, err = run(t, "messages", "PCLI000009/dev", "--admin", h.AdminURL())
	require.NoError(t, err)
	assert.Contains(t, stdout, "up   q1 PCLI000009/dev/event DENIED (payload of 16385 bytes is over the hub's limit of 16384)")
}
