package hubtest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConnectAndPublish(t *testing.T) {
	hub := StartHub(t, nil)
	d := Connect(t, hub, "PHT0000001", "dev1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, d.Bus.CloudPublish(ctx, "PHT0000001/dev1/event", []byte("hi"), 1))
	recs := hub.Messages("PHT0000001", "dev1")
	require.NotEmpty(t, recs)
	assert.Equal(t, "hi", recs[len(recs)-1].Payload)
	d.Stop()
	assert.False(t, d.Connected())
}

func TestStartHubServesCoAPOnFreePorts(t *testing.T) {
	hub := StartHub(t, nil)
	for name, addr := range map[string]string{"dtls": hub.CoAPAddr(), "udp": hub.CoAPPlainAddr()} {
		host, port, err := net.SplitHostPort(addr)
		require.NoError(t, err, name)
		assert.Equal(t, "127.0.0.1", host, name)
		assert.NotContains(t, []string{"0", "5684"}, port, name)
	}
	assert.NotEqual(t, hub.CoAPAddr(), hub.CoAPPlainAddr())
}
