package hubsim

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBulkCreateWritesTheRegistryOnceAndReuses(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir)
	c := NewClient(h.AdminURL())
	ctx := context.Background()

	res, err := c.CreateDevices(ctx, BulkCreateRequest{ProductID: "PBULK00001", Prefix: "d-", Count: 120, DeviceNames: []string{"first"}})
	require.NoError(t, err)
	require.Len(t, res.Devices, 121)
	assert.Equal(t, 121, res.Created)
	assert.Equal(t, "first", res.Devices[0].DeviceName)
	assert.Equal(t, "d-001", res.Devices[1].DeviceName)
	assert.Equal(t, "d-120", res.Devices[120].DeviceName)
	assert.NotEmpty(t, res.Devices[5].Secret)
	assert.NotEmpty(t, res.CAPEM)
	assert.NotEmpty(t, res.ProductSecret)

	// An existing name refuses the whole request, unless reuse.
	_, err = c.CreateDevices(ctx, BulkCreateRequest{ProductID: "PBULK00001", DeviceNames: []string{"new", "d-001"}})
	require.ErrorContains(t, err, "409")
	_, err = h.Store().Device("PBULK00001", "new")
	require.ErrorIs(t, err, ErrNotFound)
	again, err := c.CreateDevices(ctx, BulkCreateRequest{ProductID: "PBULK00001", DeviceNames: []string{"new", "d-001"}, Reuse: true})
	require.NoError(t, err)
	assert.Equal(t, 1, again.Created)
	assert.Equal(t, res.Devices[1].Secret, again.Devices[1].Secret, "a reused device keeps its credentials")

	_, err = c.CreateDevices(ctx, BulkCreateRequest{ProductID: "PBULK00001", DeviceNames: []string{"x", "x"}})
	require.ErrorContains(t, err, "twice")
	_, err = c.CreateDevices(ctx, BulkCreateRequest{ProductID: "PBULK00001"})
	require.ErrorContains(t, err, "no devices")

	// The registry on disk has them all: a restarted hub knows them.
	require.NoError(t, h.Close())
	data, err := os.ReadFile(filepath.Join(dir, "registry.json"))
	require.NoError(t, err)
	assert.Contains(t, string(data), `"d-120"`)
	h2 := startHub(t, dir)
	d, err := h2.Store().Device("PBULK00001", "d-077")
	require.NoError(t, err)
	assert.Equal(t, res.Devices[77].Secret, d.Secret)
}

func TestPushAllCountsOfflineDevices(t *testing.T) {
	h := startHub(t, "")
	c := NewClient(h.AdminURL())
	ctx := context.Background()
	_, err := c.CreateDevices(ctx, BulkCreateRequest{ProductID: "POTAALL001", Count: 3})
	require.NoError(t, err)
	_, err = c.UploadFirmware(ctx, "fw.bin", "2.0.0", []byte("firmware"))
	require.NoError(t, err)
	res, err := c.PushOTAAll(ctx, "POTAALL001", OTAPushRequest{Version: "2.0.0"})
	require.NoError(t, err)
	assert.Equal(t, 0, res.Pushed)
	assert.Equal(t, 3, res.Offline)
	_, err = c.PushOTAAll(ctx, "PNONE00001", OTAPushRequest{Version: "2.0.0"})
	require.ErrorContains(t, err, "404")
}

func TestMessageRingGrowsToItsSize(t *testing.T) {
	tr := newTracker()
	tr.ringSize = 3
	for i := range 5 {
		tr.record("c", Record{Topic: string(rune('a' + i)), Direction: Up})
	}
	var topics []string
	for _, r := range tr.messages("c") {
		topics = append(topics, r.Topic)
	}
	assert.Equal(t, []string{"c", "d", "e"}, topics)
	tr.record("d", Record{Topic: "x", Direction: Up})
	assert.Len(t, tr.messages("d"), 1)
	assert.Equal(t, 1, cap(tr.devices["d"].ring), "the ring grows as messages arrive")

	none := newTracker()
	none.ringSize = -1
	none.record("c", Record{Topic: "x", Direction: Up})
	assert.Empty(t, none.messages("c"))
	assert.EqualValues(t, 1, none.status("c").Published, "counted, not kept")
}
