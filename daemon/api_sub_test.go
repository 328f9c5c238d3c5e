package daemon

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/iotd/iotd/localapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stream runs a /v1/subscribe stream on filter until the returned function
// is called; its messages arrive on the channel.
func (r *running) stream(t *testing.T, filter string) (<-chan localapi.Message, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	msgs := make(chan localapi.Message, 16)
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		err = localapi.Each(r.client.Subscribe(ctx, filter, 1), func(m localapi.Message) error {
			select {
			case msgs <- m:
			default:
				t.Errorf("stream on %s: message not read: %+v", filter, m)
			}
			return nil
		})
	}()
	stop := func() {
		cancel()
		select {
		case <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("stream did not end")
		}
	}
	t.Cleanup(stop)
	return msgs, stop
}

func hasSub(filter string) func(localapi.Status) bool {
	return func(st localapi.Status) bool { return slices.Contains(st.Subscriptions, filter) }
}

func hasNoSub(filter string) func(localapi.Status) bool {
	return func(st localapi.Status) bool { return !slices.Contains(st.Subscriptions, filter) }
}

func TestSubscriptionsEndWithTheirStreams(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PUNSUB0001", "dev1", false)
	r := startDaemon(t, configFor(t, hub, dir, ""))
	r.waitStatus(t, "connected", connected)
	const control = "PUNSUB0001/dev1/control"

	// Two streams share the filter; it goes with the last.
	a, stopA := r.stream(t, "control")
	r.waitStatus(t, "the subscription", hasSub(control))
	b, stopB := r.stream(t, "control")
	require.Eventually(t, func() bool { return r.d.Bus().CloudSubscribers(control) == 2 }, 10*time.Second, 10*time.Millisecond)
	stopA()
	require.Eventually(t, func() bool { return r.d.Bus().CloudSubscribers(control) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, hub.Publish(control, []byte("still"), 1))
	assert.Equal(t, "still", (<-b).Payload)
	assert.Contains(t, r.waitStatus(t, "status", connected).Subscriptions, control)
	assert.Empty(t, a)
	stopB()
	r.waitStatus(t, "the filter to go", hasNoSub(control))
	// The features' own subscriptions stay.
	assert.Contains(t, r.waitStatus(t, "status", connected).Subscriptions, "$sys/operation/result/PUNSUB0001/dev1")
}

func TestUnsubscribeAPI(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PUNSUB0002", "dev1", false)
	_, err := hub.CreateDevice("PUNSUB0002", "dev2", false)
	require.NoError(t, err)
	r := startDaemon(t, configFor(t, hub, dir, ""))
	r.waitStatus(t, "connected", connected)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const data = "PUNSUB0002/dev1/data"

	a, _ := r.stream(t, "data")
	r.waitStatus(t, "the subscription", hasSub(data))
	res, err := r.client.Unsubscribe(ctx, "data")
	require.NoError(t, err)
	assert.Equal(t, localapi.UnsubscribeResult{Filter: data, WasSubscribed: true, LocalSubscribers: 1}, res)
	assert.NotContains(t, r.waitStatus(t, "status", connected).Subscriptions, data, "gone at once")

	// Not subscribed: nothing to drop, not an error.
	res, err = r.client.Unsubscribe(ctx, "data")
	require.NoError(t, err)
	assert.False(t, res.WasSubscribed)

	// The stream stayed open; the next subscriber subscribes again, for it too.
	b, _ := r.stream(t, "data")
	r.waitStatus(t, "the subscription again", hasSub(data))
	require.NoError(t, hub.Publish(data, []byte("again"), 1))
	assert.Equal(t, "again", (<-a).Payload)
	assert.Equal(t, "again", (<-b).Payload)

	// The same checks as subscribe.
	_, err = r.client.Unsubscribe(ctx, "PUNSUB0002/dev2/data")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not belong to this device")
	_, err = r.client.Unsubscribe(ctx, "a/b+/c")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "'+' must fill a whole level")
	_, err = r.client.Unsubscribe(ctx, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "empty")
}
