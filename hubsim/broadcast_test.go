package hubsim

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBroadcast(t *testing.T) {
	h := startHub(t, "")
	for _, d := range []DeviceRef{{"PBCAST0001", "a"}, {"PBCAST0001", "b"}, {"PBCAST0001", "off"}, {"PBCAST0001", "nosub"}, {"PBCAST0002", "x"}} {
		_, err := h.CreateDevice(d.ProductID, d.DeviceName, false)
		require.NoError(t, err)
	}
	inboxes := map[string]inbox{}
	for _, d := range []DeviceRef{{"PBCAST0001", "a"}, {"PBCAST0001", "b"}, {"PBCAST0002", "x"}} {
		in := make(inbox, 4)
		cl := connectKey(t, h, tcpConn(h), d.ProductID, d.DeviceName)
		assert.Equal(t, byte(1), subscribe(t, cl, BroadcastTopic(d), 1, in))
		inboxes[d.String()] = in
	}
	connectKey(t, h, tcpConn(h), "PBCAST0001", "nosub")

	c := NewClient(h.AdminURL())
	res, err := c.Broadcast(context.Background(), "PBCAST0001", []byte("hello all"))
	require.NoError(t, err)
	assert.Equal(t, 4, res.Devices)
	assert.Equal(t, 3, res.Online)
	assert.ElementsMatch(t, []string{"a", "b"}, res.Delivered)
	assert.Equal(t, 9, res.Bytes)

	for _, dev := range []string{"PBCAST0001/a", "PBCAST0001/b"} {
		m := inboxes[dev].next(t)
		assert.Equal(t, "$broadcast/rxd/"+dev, m.Topic())
		assert.Equal(t, "hello all", string(m.Payload()))
		assert.Equal(t, byte(1), m.Qos())
	}
	// The next message x gets is its own product's broadcast: nothing of
	// PBCAST0001's came before it on the same session.
	res, err = c.Broadcast(context.Background(), "PBCAST0002", []byte("only x"))
	require.NoError(t, err)
	assert.Equal(t, []string{"x"}, res.Delivered)
	assert.Equal(t, "only x", string(inboxes["PBCAST0002/x"].next(t).Payload()))

	_, err = c.Broadcast(context.Background(), "PNOPE00000", []byte("x"))
	assert.ErrorContains(t, err, "not found")
}
