package mqtt

import (
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// Messages from the hub reach a bus subscriber in the order they arrived,
// as the package documentation promises: a burst of QoS 1 messages on one
// topic, published back to back by a peer, is read in that order.
func TestDownlinksKeepOrder(t *testing.T) {
	const n = 500
	b := startMochi(t, freePort(t))
	h := newHarness(t, b.Addr(), harnessOpts{})
	waitFor(t, "connected", h.connected)
	ctx := ctxT(t, 30*time.Second)
	down, err := h.bus.CloudSubscribe(ctx, "burst/#", 1)
	require.NoError(t, err)

	p := newPeer(t, b.Addr(), "cloud-app")
	toks := make([]paho.Token, n)
	for i := range toks {
		toks[i] = p.client.Publish("burst/x", 1, false, strconv.Itoa(i))
	}
	for _, tok := range toks {
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	for i := range n {
		m := next(t, down)
		require.Equal(t, strconv.Itoa(i), string(m.Payload), "message %d", i)
	}
}
