package bus_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/core/linkstate"
	"github.com/iotd/iotd/drivers/posix"
)

// b.PublishLinkState is the adapter from a Link's OnState to the bus: every
// state of a connect, a drop and a reconnect over a real TCP connection
// reaches a subscriber, decoded by DecodeLinkState.
func TestPublishLinkStateCarriesALinksStates(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := b.Subscribe(t.Context(), bus.TopicLinkState)
	require.NoError(t, err)
	var mu sync.Mutex
	var got []linkstate.State
	all := make(chan struct{})
	go func() {
		for m := range ch {
			m.Ack()
			s, err := bus.DecodeLinkState(m)
			assert.NoError(t, err)
			mu.Lock()
			got = append(got, s)
			if len(got) == 6 {
				close(all)
			}
			mu.Unlock()
		}
	}()

	reg := core.NewRegistry()
	require.NoError(t, reg.Register(posix.NewTCP()))
	l, err := reg.OpenLink(core.LinkConfig{Driver: "tcp", Address: ln.Addr().String(),
		Backoff: core.BackoffConfig{Initial: core.Duration(time.Millisecond), Max: core.Duration(time.Millisecond)}},
		core.LinkOptions{OnState: b.PublishLinkState})
	require.NoError(t, err)
	n := 0
	require.NoError(t, l.Run(ctx, func(ctx context.Context, conn driver.Conn, ready func()) error {
		ready()
		if n++; n == 1 {
			return fmt.Errorf("read: %w", driver.ErrReset)
		}
		cancel()
		return nil
	}))
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Fatal("not every state reached the bus")
	}

	mu.Lock()
	defer mu.Unlock()
	// The bus keeps the order the Link reported them in (the Link's own
	// order is TestLinkReportsStatesInOrder's).
	var statuses []linkstate.Status
	for _, s := range got {
		statuses = append(statuses, s.State)
		assert.Equal(t, "tcp", s.Driver)
		assert.Equal(t, ln.Addr().String(), s.Endpoint)
		if s.State == linkstate.Disconnected {
			assert.Contains(t, s.Err, "connection reset")
			assert.Positive(t, s.RetryIn)
		}
	}
	assert.Equal(t, []linkstate.Status{
		linkstate.Connecting, linkstate.Connected, linkstate.Disconnected,
		linkstate.Connecting, linkstate.Connected, linkstate.Stopped,
	}, statuses)
}

// The event's JSON is what it was when the type lived in bus: subscribers
// in other processes (the local API's clients) read the same fields.
func TestLinkStateEventWireForm(t *testing.T) {
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	defer b.Close()
	ch, err := b.Subscribe(t.Context(), bus.TopicLinkState)
	require.NoError(t, err)
	in := linkstate.State{State: linkstate.Disconnected, Driver: "tls", Endpoint: "h:8883", Attempt: 2,
		Err: "dial: connection refused", RetryIn: time.Second, Since: time.Unix(5, 0).UTC()}
	b.PublishLinkState(in)
	m := <-ch
	m.Ack()
	assert.JSONEq(t, `{"state":"disconnected","driver":"tls","endpoint":"h:8883","attempt":2,
		"error":"dial: connection refused","retry_in_ns":1000000000,"since":"1970-01-01T00:00:05Z"}`, string(m.Payload))
	assert.Equal(t, bus.SchemaVersion, m.Metadata.Get(bus.MetaSchema))
	out, err := bus.DecodeLinkState(m)
	require.NoError(t, err)
	assert.Equal(t, in, out)
}

func TestDecodeLinkStateRefuses(t *testing.T) {
	for name, payload := range map[string]string{
		"not JSON": `connected`,
		"no state": `{"driver":"tls"}`,
		"a number": `{"state":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := bus.DecodeLinkState(message.NewMessage(watermill.NewUUID(), []byte(payload)))
			assert.Error(t, err)
		})
	}
	s, err := bus.DecodeLinkState(message.NewMessage(watermill.NewUUID(), []byte(`{"state":"sleeping"}`)))
	require.NoError(t, err, "a status from a newer producer is passed on")
	assert.Equal(t, linkstate.Status("sleeping"), s.State)
}

// Publishing on a closed bus drops the state without blocking or panicking:
// a Link may outlive its bus by a moment at shutdown.
func TestPublishLinkStateAfterClose(t *testing.T) {
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	require.NoError(t, b.Close())
	b.PublishLinkState(linkstate.State{State: linkstate.Stopped})
}
