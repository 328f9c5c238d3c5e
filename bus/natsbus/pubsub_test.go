package natsbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/natsconf"
)

func open(t testing.TB, cfg natsconf.Config, opts ...natsbus.Option) *natsbus.PubSub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps, err := natsbus.Open(ctx, cfg, nil, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ps.Close() })
	return ps
}

// TestUniversal runs watermill's universal Pub/Sub tests: a publisher and
// a subscriber on two connections to one embedded server. The tests
// publish before they subscribe, as to a persistent Pub/Sub: the stream
// keeps messages (limits) and subscriptions start at its oldest.
func TestUniversal(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	srv := natstest.Run(t)
	cfg := natsconf.Config{URL: srv.ClientURL(), Storage: "memory", Retention: "limits", MaxBytes: -1, AckWait: 5 * time.Second}
	tests.TestPubSub(t, tests.Features{
		GuaranteedOrder:                     true,
		GuaranteedOrderWithSingleSubscriber: true,
		ContextPreserved:                    false,
	}, func(t *testing.T) (message.Publisher, message.Subscriber) {
		return open(t, cfg), open(t, cfg, natsbus.DeliverAll())
	}, nil)
}

// TestMetadata: metadata that a NATS header cannot carry as it is
// (newlines, spaces at the ends) comes back unchanged; keys that cannot be
// header names are refused.
func TestMetadata(t *testing.T) {
	srv := natstest.Run(t)
	ps := open(t, natsconf.Config{URL: srv.ClientURL(), Storage: "memory"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := ps.Subscribe(ctx, "downlink:$thing/down/+")
	require.NoError(t, err)
	m := message.NewMessage(watermill.NewUUID(), []byte("payload"))
	md := map[string]string{"error": "line 1\r\nline 2", "topic": "$thing/down/x", "pad": " x ", "empty": "", "utf8": "温度"}
	for k, v := range md {
		m.Metadata.Set(k, v)
	}
	require.NoError(t, ps.Publish("downlink:$thing/down/+", m))
	got := <-ch
	got.Ack()
	assert.Equal(t, m.UUID, got.UUID)
	assert.Equal(t, "payload", string(got.Payload))
	for k, v := range md {
		assert.Equal(t, v, got.Metadata.Get(k), k)
	}
	bad := message.NewMessage(watermill.NewUUID(), nil)
	bad.Metadata.Set("a key", "x")
	assert.Error(t, ps.Publish("t", bad))
}

// Buses under different prefixes (two devices) share one stream: the
// second adds its subjects to it, and each gets only its own messages.
func TestPrefixesShareAStream(t *testing.T) {
	srv := natstest.Run(t)
	a := open(t, natsconf.Config{URL: srv.ClientURL(), SubjectPrefix: "iotd.dev1", Storage: "memory"})
	b := open(t, natsconf.Config{URL: srv.ClientURL(), SubjectPrefix: "iotd.dev2", Storage: "memory"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cha, err := a.Subscribe(ctx, "uplink.publish")
	require.NoError(t, err)
	chb, err := b.Subscribe(ctx, "uplink.publish")
	require.NoError(t, err)
	require.NoError(t, a.Publish("uplink.publish", message.NewMessage(watermill.NewUUID(), []byte("a"))))
	require.NoError(t, b.Publish("uplink.publish", message.NewMessage(watermill.NewUUID(), []byte("b"))))
	for ch, want := range map[<-chan *message.Message]string{cha: "a", chb: "b"} {
		m := <-ch
		m.Ack()
		assert.Equal(t, want, string(m.Payload))
	}
	// The second Open of a prefix leaves the stream as it is.
	open(t, natsconf.Config{URL: srv.ClientURL(), SubjectPrefix: "iotd.dev1", Storage: "memory"})
	select {
	case m := <-cha:
		t.Fatalf("a got %q, published for b", m.Payload)
	default:
	}
}
