package bus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/natsconf"
)

// TestOnNATS runs the bus tests that hold for every backend with newBus
// making buses on NATS JetStream (an embedded server): order per
// subscriber, Nack redelivery, request/reply, Serve. The in-process runs
// of the same tests are the plain ones. Left out: what only the
// in-process bus does (queue limits and drops, ErrNotServing for a topic
// nobody serves, goroutine accounting).
func TestOnNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	srv := natstest.Run(t)
	n := 0
	testBackend = func(t *testing.T) *Bus {
		n++ // a stream and subject prefix per bus: nothing left from another test
		return natsTestBus(t, srv.ClientURL(), n)
	}
	defer func() { testBackend = nil }()
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"RequestReply", TestRequestReply},
		{"RequestWithoutServerTimesOut", TestRequestWithoutServerTimesOut},
		{"PublishKeepsOrder", TestPublishKeepsOrder},
		{"PublishKeepsHappensBeforeOrder", TestPublishKeepsHappensBeforeOrder},
		{"LinkStatesKeepOrderInABurst", TestLinkStatesKeepOrderInABurst},
		{"NackRedeliversInOrder", TestNackRedeliversInOrder},
		{"WatermillInterfaces", TestWatermillInterfaces},
		{"PublishWithoutSubscribers", TestPublishWithoutSubscribers},
		{"Serve", TestServe},
	} {
		t.Run(tc.name, tc.f)
	}
}

// natsTestBus opens a bus on the NATS server at url, with stream Tn and
// subject prefix tn (in memory), closed at the end of the test.
func natsTestBus(t testing.TB, url string, n int) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps, err := natsbus.Open(ctx, natsconf.Config{
		URL: url, Stream: fmt.Sprintf("T%d", n), SubjectPrefix: fmt.Sprintf("t%d", n), Storage: "memory",
	}, nil)
	require.NoError(t, err)
	b, err := NewRemote(Config{}, nil, ps)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// forBackends runs a benchmark on the in-process bus and on NATS (an
// embedded server, in-memory stream), side by side.
func forBackends(b *testing.B, bench func(*testing.B, func(testing.TB) *Bus)) {
	b.Run("inprocess", func(b *testing.B) {
		bench(b, func(t testing.TB) *Bus {
			bus, err := New(Config{}, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = bus.Close() })
			return bus
		})
	})
	b.Run("nats", func(b *testing.B) {
		srv := natstest.Run(b)
		n := 0
		bench(b, func(t testing.TB) *Bus {
			n++
			return natsTestBus(t, srv.ClientURL(), n)
		})
	})
}
