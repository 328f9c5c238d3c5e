//go:build iotd_nats

package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/natsconf"
)

// With the iotd_nats tag, bus.New opens the backend from the
// configuration, and two buses on it share a topic.
func TestNewOnNATS(t *testing.T) {
	srv := natstest.Run(t)
	cfg := bus.Config{Backend: "nats", NATS: natsconf.Config{URL: srv.ClientURL()}}
	a, err := bus.New(cfg, nil)
	require.NoError(t, err)
	defer a.Close()
	b, err := bus.New(cfg, nil)
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := b.Subscribe(ctx, "shared")
	require.NoError(t, err)
	require.NoError(t, a.Publish("shared", message.NewMessage(watermill.NewUUID(), []byte("hi"))))
	select {
	case m := <-ch:
		m.Ack()
		assert.Equal(t, "hi", string(m.Payload))
	case <-ctx.Done():
		t.Fatal("nothing came")
	}
}
