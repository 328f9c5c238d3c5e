package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/natsconf"
	"github.com/iotd/iotd/bus/outbox"
)

// A bus on NATS keeps the uplink's outbox in a stream next to its own
// (outbox.backend: jetstream), named after its subject prefix by default;
// the in-process bus keeps none and says what to configure.
func TestOpenOutbox(t *testing.T) {
	srv := natstest.Run(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ps, err := natsbus.Open(ctx, natsconf.Config{URL: srv.ClientURL(), SubjectPrefix: "iotd.dev1"}, nil)
	require.NoError(t, err)
	b, err := bus.NewRemote(bus.Config{}, nil, ps)
	require.NoError(t, err)
	defer b.Close()
	box, err := b.OpenOutbox(ctx, "", outbox.Options{MaxMessages: 7})
	require.NoError(t, err)
	ms, err := box.AppendBatch(ctx, []outbox.Message{{Topic: "a/b", QoS: 1, Payload: []byte("x")}})
	require.NoError(t, err)
	assert.Equal(t, 7, box.Usage().MaxMessages)
	require.NoError(t, box.Close())
	st, err := ps.Conn().JetStream()
	require.NoError(t, err)
	info, err := st.StreamInfo(natsbus.OutboxStream("iotd.dev1"))
	require.NoError(t, err)
	assert.Equal(t, "OUTBOX_iotd_dev1", info.Config.Name)
	assert.Equal(t, ms[0].Seq, info.State.LastSeq)

	local, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	defer local.Close()
	_, err = local.OpenOutbox(ctx, "", outbox.Options{})
	assert.ErrorContains(t, err, "set bus.backend: nats")
}
