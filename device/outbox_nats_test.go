//go:build iotd_nats

package device_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/device"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/localapi"
)

// With outbox.backend: jetstream the device's QoS 1 messages wait in a
// stream on the bus's NATS server (OUTBOX_ and the subject prefix), and
// leave it on PUBACK. (The uplink's tests check the outbox's guarantees on
// JetStream; this one checks that the configuration reaches it.)
func TestOutboxOnJetStream(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	srv := natstest.Run(t)
	d := start(t, configFor(t, hub, "PDEVJS0001", "dev1", hub.TLSAddr(),
		"bus: {backend: nats, url: '"+srv.ClientURL()+"', subject_prefix: iotd.dev1}\noutbox: {backend: jetstream, max_messages: 50}\n"))
	waitStatus(t, d, "connected", connected)
	for range 3 {
		res, err := d.Publish(ctxT(t), "data", []byte(`{"n":1}`), 1)
		require.NoError(t, err)
		assert.Equal(t, device.Acknowledged, res)
	}
	st := d.Status()
	require.NotNil(t, st.Queue)
	require.NotNil(t, st.Queue.Outbox)
	assert.Equal(t, 50, st.Queue.Outbox.MaxMessages)

	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(ctxT(t), "OUTBOX_iotd_dev1")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := s.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	}, 15*time.Second, 20*time.Millisecond, "the acknowledged messages leave the stream (a PUBACK may beat the write: then nothing is written)")
	waitStatus(t, d, "outbox empty", func(st localapi.Status) bool { return st.Queue.Outbox.Messages == 0 })
}
