package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testBackend, when set, makes newBus's buses on another backend than the
// in-process one (see backends_test.go).
var testBackend func(t *testing.T) *Bus

func newBus(t *testing.T) *Bus {
	t.Helper()
	if testBackend != nil {
		return testBackend(t)
	}
	b, err := New(Config{}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestRequestReply(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reqs, err := b.Subscribe(ctx, "svc")
	require.NoError(t, err)
	go func() {
		for m := range reqs {
			m.Ack()
			if string(m.Payload) == "fail" {
				_ = b.Reply(m, ErrorReply(errors.New("svc: refused")))
				continue
			}
			_ = b.Reply(m, message.NewMessage(watermill.NewUUID(), append([]byte("re:"), m.Payload...)))
		}
	}()

	rep, err := b.Request(ctx, "svc", message.NewMessage(watermill.NewUUID(), []byte("hi")))
	require.NoError(t, err)
	assert.Equal(t, "re:hi", string(rep.Payload))

	_, err = b.Request(ctx, "svc", message.NewMessage(watermill.NewUUID(), []byte("fail")))
	assert.EqualError(t, err, "svc: refused")
}

func TestRequestWithoutServerTimesOut(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := b.Request(ctx, "nobody", message.NewMessage(watermill.NewUUID(), nil))
	require.ErrorIs(t, err, ErrNoReply)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestEventRoundTrip(t *testing.T) {
	in := ClockOffset{Offset: -3 * time.Second, RTT: 40 * time.Millisecond, SyncedAt: time.Unix(5, 0).UTC()}
	m, err := NewEvent(in)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, m.Metadata.Get(MetaSchema))
	var out ClockOffset
	require.NoError(t, DecodeEvent(m, &out))
	assert.Equal(t, in, out)
}
