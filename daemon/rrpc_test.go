package daemon

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/localapi"
)

// Two RRPC calls in flight at once, answered through the local API stream
// in the opposite order to their arrival: each caller gets its own answer.
func TestRRPCThroughLocalAPI(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PRPC000001", "dev1", false)
	r := startDaemon(t, configFor(t, hub, dir, ""))
	r.waitStatus(t, "rrpc subscription", func(st localapi.Status) bool {
		return connected(st) && contains(st.Subscriptions, "$rrpc/rxd/PRPC000001/dev1/+")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var mu sync.Mutex
	var held []localapi.RRPCRequest
	go func() {
		_ = localapi.Each(r.client.RRPCRequests(ctx), func(q localapi.RRPCRequest) error {
			mu.Lock()
			held = append(held, q)
			if len(held) == 2 { // answer the second first
				for i := len(held) - 1; i >= 0; i-- {
					_ = r.client.RRPCReply(ctx, held[i].ProcessID, []byte("re:"+held[i].Payload))
				}
			}
			mu.Unlock()
			return nil
		})
	}()
	r.waitStatus(t, "the request stream", func(st localapi.Status) bool { return st.Features.RRPC.Subscribers == 1 })

	admin := hubsim.NewClient(hub.AdminURL())
	var wg sync.WaitGroup
	replies := make([]hubsim.RRPCReply, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			replies[i], errs[i] = admin.RRPC(ctx, "PRPC000001", "dev1", []byte(fmt.Sprintf("call-%d", i)), 10*time.Second)
		})
	}
	wg.Wait()
	for i := range 2 {
		require.NoError(t, errs[i])
		assert.Equal(t, fmt.Sprintf("re:call-%d", i), replies[i].Payload)
	}
	assert.NotEqual(t, replies[0].ProcessID, replies[1].ProcessID)
	// The hub may hand a reply over before iotd counted it as sent.
	st := r.waitStatus(t, "both replies counted", func(st localapi.Status) bool { return st.Features.RRPC.Replies == 2 })
	assert.Equal(t, int64(2), st.Features.RRPC.Requests)
}

// The hook from the config answers RRPC; broadcasts reach a local stream.
func TestRRPCHookAndBroadcastStream(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PRPC000002", "dev1", false)
	r := startDaemon(t, configFor(t, hub, dir, `features:
  rrpc:
    hook:
      command: ["/bin/sh", "-c", "printf 'hook:%s:%s' \"$IOTD_PROCESS_ID\" \"$(cat)\""]
      timeout: 5s
`))
	r.waitStatus(t, "subscriptions", func(st localapi.Status) bool {
		return connected(st) && contains(st.Subscriptions, "$broadcast/rxd/PRPC000002/dev1")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	admin := hubsim.NewClient(hub.AdminURL())
	rep, err := admin.RRPC(ctx, "PRPC000002", "dev1", []byte("ping"), 10*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "hook:"+rep.ProcessID+":ping", rep.Payload)

	got := make(chan localapi.BroadcastMessage, 1)
	go func() {
		_ = localapi.Each(r.client.Broadcasts(ctx), func(m localapi.BroadcastMessage) error {
			got <- m
			return nil
		})
	}()
	r.waitStatus(t, "the broadcast stream", func(st localapi.Status) bool { return st.Features.Broadcast.Subscribers == 1 })
	_, err = admin.Broadcast(ctx, "PRPC000002", []byte("firmware 2.0 is out"))
	require.NoError(t, err)
	select {
	case m := <-got:
		assert.Equal(t, "$broadcast/rxd/PRPC000002/dev1", m.Topic)
		assert.Equal(t, "firmware 2.0 is out", m.Payload)
	case <-ctx.Done():
		t.Fatal("broadcast not received")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
