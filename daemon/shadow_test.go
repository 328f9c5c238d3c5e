package daemon

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/localapi"
)

func TestShadowThroughLocalAPI(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PSHD000001", "dev1", false)
	cfg := configFor(t, hub, dir, "")
	admin := hubsim.NewClient(hub.AdminURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	r := startDaemon(t, cfg)
	r.waitStatus(t, "connected", connected)

	// Report, then read back from the hub.
	doc, err := r.client.ShadowReport(ctx, localapi.ShadowReport{Reported: map[string]json.RawMessage{
		"temperature": json.RawMessage(`21.5`), "label": json.RawMessage(`"kitchen \"east\""`),
	}})
	require.NoError(t, err)
	doc, err = r.client.ShadowGet(ctx)
	require.NoError(t, err)
	assert.JSONEq(t, `21.5`, string(doc.Reported["temperature"]))
	assert.JSONEq(t, `"kitchen \"east\""`, string(doc.Reported["label"]))
	view, err := admin.Shadow(ctx, "PSHD000001", "dev1")
	require.NoError(t, err)
	assert.Equal(t, doc.Version, view.Version)

	// A delta while running reaches `iotd shadow watch`.
	deltas := make(chan localapi.ShadowDelta, 4)
	go func() {
		_ = localapi.Each(r.client.ShadowWatch(ctx), func(d localapi.ShadowDelta) error { deltas <- d; return nil })
	}()
	r.waitStatus(t, "shadow watcher", func(localapi.Status) bool {
		// The watch stream attaches when the request arrives; give the
		// hub a change each time until one is seen.
		_, err := admin.SetDesired(ctx, "PSHD000001", "dev1", map[string]json.RawMessage{"light": json.RawMessage(`"on"`)}, false)
		require.NoError(t, err)
		select {
		case d := <-deltas:
			assert.JSONEq(t, `"on"`, string(d.State["light"]))
			return true
		case <-time.After(200 * time.Millisecond):
			return false
		}
	})

	// The application applies it and says so; desired is cleared.
	_, err = r.client.ShadowReport(ctx, localapi.ShadowReport{Reported: map[string]json.RawMessage{"light": json.RawMessage(`"on"`)}, ClearDesired: true})
	require.NoError(t, err)
	view, err = admin.Shadow(ctx, "PSHD000001", "dev1")
	require.NoError(t, err)
	assert.NotContains(t, view.Desired, "light")

	// Desired set while iotd is stopped is there after it starts again,
	// without a round trip from the application.
	r.stop()
	_, err = admin.SetDesired(ctx, "PSHD000001", "dev1", map[string]json.RawMessage{"fan": json.RawMessage(`3`)}, false)
	require.NoError(t, err)
	r2 := startDaemon(t, cfg)
	st := r2.waitStatus(t, "the shadow re-read after connect", func(localapi.Status) bool {
		doc, err := r2.client.Shadow(ctx)
		return err == nil && string(doc.Delta["fan"]) == "3"
	})
	assert.Zero(t, st.Features.Shadow.Malformed)
}
