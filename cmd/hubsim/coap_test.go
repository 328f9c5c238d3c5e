package main

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/testlog"
)

func TestServeShowsListenerAddresses(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		want  *regexp.Regexp
	}{
		{name: "DTLS on, plain off by default", flags: []string{"--coap", "127.0.0.1:0"},
			want: regexp.MustCompile(`CoAP DTLS 127\.0\.0\.1:\d+, CoAP UDP off,`)},
		{name: "both", flags: []string{"--coap", "127.0.0.1:0", "--coap-plain", "127.0.0.1:0"},
			want: regexp.MustCompile(`CoAP DTLS 127\.0\.0\.1:\d+, CoAP UDP 127\.0\.0\.1:\d+,`)},
		{name: "DTLS off", flags: []string{"--coap", "-"},
			want: regexp.MustCompile(`CoAP DTLS off, CoAP UDP off,`)},
		{name: "WebSocket off by default", flags: []string{"--coap", "-"},
			want: regexp.MustCompile(`MQTT WebSocket off, MQTT WebSocket TLS off,`)},
		{name: "WebSocket and WebSocket over TLS", flags: []string{"--coap", "-", "--ws", "127.0.0.1:0", "--wss", "127.0.0.1:0"},
			want: regexp.MustCompile(`MQTT WebSocket 127\.0\.0\.1:\d+, MQTT WebSocket TLS 127\.0\.0\.1:\d+,`)},
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
				"--tls", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--log-level", "error"}, tt.flags...))
			done := make(chan error, 1)
			go func() { done <- cmd.ExecuteContext(ctx) }()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(out.String(), "hubsim: MQTT") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			assert.Regexp(t, tt.want, out.String())
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

func TestCoAPCommands(t *testing.T) {
	h, err := hubsim.Start(context.Background(), hubsim.Config{StateDir: t.TempDir(),
		TLSAddr: hubsim.Off, TCPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		CoAPAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	_, err = h.CreateDevice("PCLICOAP01", "dev1", false)
	require.NoError(t, err)
	admin := h.AdminURL()

	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
		check   func(t *testing.T)
	}{
		{name: "info", args: []string{"coap", "info"},
			want: []string{"dtls:       " + h.CoAPAddr(), "udp:        off", "mode:       piggyback", "token ttl:  1h0m0s"}},
		{name: "mode separate", args: []string{"coap", "mode", "separate"}, want: []string{"CoAP responses: separate"},
			check: func(t *testing.T) { assert.True(t, h.CoAP().Info().Separate) }},
		{name: "info shows the mode", args: []string{"coap", "info"}, want: []string{"mode:       separate"}},
		{name: "mode piggyback", args: []string{"coap", "mode", "piggyback"}, want: []string{"CoAP responses: piggyback"},
			check: func(t *testing.T) { assert.False(t, h.CoAP().Info().Separate) }},
		{name: "bad mode", args: []string{"coap", "mode", "sometimes"}, wantErr: "use piggyback or separate"},
		{name: "expire", args: []string{"coap", "expire", "PCLICOAP01/dev1"}, want: []string{"expired 0 token(s) of PCLICOAP01/dev1"}},
		{name: "expire unknown device", args: []string{"coap", "expire", "PCLICOAP01/nobody"}, wantErr: "not found"},
		{name: "info json", args: []string{"coap", "info", "--json"}, want: []string{`"dtlsAddr": "` + h.CoAPAddr() + `"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, append(tt.args, "--admin", admin)...)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
}
