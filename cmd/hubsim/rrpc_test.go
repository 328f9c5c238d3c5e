package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/internal/hubtest"
)

// answerRRPC makes d answer every RRPC request with "re:" + payload.
func answerRRPC(t *testing.T, d *hubtest.Device, pid, dn string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reqs, err := d.Bus.CloudSubscribe(ctx, "$rrpc/rxd/"+pid+"/"+dn+"/+", 0)
	require.NoError(t, err)
	go func() {
		for m := range reqs {
			m.Ack()
			topic := m.Metadata.Get(bus.MetaTopic)
			id := topic[strings.LastIndexByte(topic, '/')+1:]
			_ = d.Bus.CloudPublish(ctx, "$rrpc/txd/"+pid+"/"+dn+"/"+id, append([]byte("re:"), m.Payload...), 0)
		}
	}()
}

func TestRRPCAndBroadcastCommands(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	d := hubtest.Connect(t, hub, "PCLIRRPC01", "dev")
	answerRRPC(t, d, "PCLIRRPC01", "dev")
	hubtest.Connect(t, hub, "PCLIRRPC01", "mute")
	admin := strings.TrimPrefix(hub.AdminURL(), "http://")

	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{"reply printed", []string{"rrpc", "PCLIRRPC01/dev", "ping"}, "re:ping\n", ""},
		{"timeout", []string{"rrpc", "PCLIRRPC01/mute", "ping", "--timeout", "300ms"}, "",
			"timeout after 300ms: no reply from PCLIRRPC01/mute (it is not subscribed"},
		{"bad device", []string{"rrpc", "PCLIRRPC01", "ping"}, "", "PRODUCT/DEVICE"},
		{"bad timeout", []string{"rrpc", "PCLIRRPC01/dev", "ping", "--timeout", "0s"}, "", "--timeout 0s"},
		{"unknown device", []string{"rrpc", "PCLIRRPC01/nobody", "ping"}, "", "not found"},
		{"broadcast", []string{"broadcast", "PCLIRRPC01", "hi"}, "broadcast 2 bytes to product PCLIRRPC01: 2 devices, 2 online, delivered to 0: none\n", ""},
		{"broadcast unknown product", []string{"broadcast", "PNOPE00000", "hi"}, "", "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, append(tt.args, "--admin", admin)...)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, out)
		})
	}
}

func TestBroadcastCommandDelivers(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	d := hubtest.Connect(t, hub, "PCLIBCAST1", "dev")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := d.Bus.CloudSubscribe(ctx, "$broadcast/rxd/PCLIBCAST1/dev", 1)
	require.NoError(t, err)
	out, err := run(t, "broadcast", "PCLIBCAST1", "hello", "--admin", strings.TrimPrefix(hub.AdminURL(), "http://"))
	require.NoError(t, err)
	assert.Contains(t, out, "delivered to 1: dev")
	select {
	case m := <-msgs:
		m.Ack()
		assert.Equal(t, "hello", string(m.Payload))
	case <-ctx.Done():
		t.Fatal("the broadcast did not arrive")
	}
}
