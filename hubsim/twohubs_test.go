package hubsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two hubs in one process, with the same product and device names, share
// nothing: not the registry, not the services' state (shadow, OTA, CoAP),
// and closing one leaves the other's services running.
func TestTwoHubsShareNothing(t *testing.T) {
	const pid, dn = "PTWOHUBS01", "dev"
	ref := DeviceRef{ProductID: pid, DeviceName: dn}
	h1, h2 := startHub(t, ""), startHub(t, "")
	for _, h := range []*Hub{h1, h2} {
		_, err := h.CreateDevice(pid, dn, false)
		require.NoError(t, err)
	}

	// Registry: a device created on one hub does not exist on the other.
	_, err := h1.CreateDevice(pid, "only-on-1", false)
	require.NoError(t, err)
	_, err = h2.Store().Device(pid, "only-on-1")
	require.ErrorIs(t, err, ErrNotFound)

	// Each hub has its own service values.
	require.NotNil(t, h1.OTA())
	require.NotNil(t, h1.CoAP())
	assert.NotSame(t, h1.OTA(), h2.OTA())
	assert.NotSame(t, h1.CoAP(), h2.CoAP())
	assert.NotSame(t, service[*shadowService](h1), service[*shadowService](h2))

	// Shadow: desired state set on one hub is not on the other.
	body, _ := json.Marshal(map[string]string{"color": "red"})
	resp, err := http.Post(h1.AdminURL()+"/devices/"+pid+"/"+dn+"/shadow/desired", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `"red"`, string(service[*shadowService](h1).View(ref).Desired["color"]))
	assert.Empty(t, service[*shadowService](h2).View(ref).Desired)
	assert.Zero(t, service[*shadowService](h2).View(ref).Version)

	// OTA: firmware and pushes are per hub; the device is online on h1 only.
	connectKey(t, h1, tcpConn(h1), pid, dn)
	_, err = h1.OTA().Upload("", "2.0.0", []byte("firmware"))
	require.NoError(t, err)
	assert.Empty(t, h2.OTA().Info().Firmware)
	_, err = h2.OTA().Push(ref, OTAPushRequest{Version: "2.0.0"})
	require.ErrorIs(t, err, ErrNotFound, "h2 has no firmware 2.0.0")
	_, err = h2.OTA().Upload("", "2.0.0", []byte("firmware"))
	require.NoError(t, err)
	_, err = h2.OTA().Push(ref, OTAPushRequest{Version: "2.0.0"})
	require.ErrorIs(t, err, ErrOffline, "the device is connected to h1, not h2")
	_, err = h1.OTA().Push(ref, OTAPushRequest{Version: "2.0.0"})
	require.NoError(t, err)
	_, pending := h1.OTA().PendingUpdate(ref)
	assert.True(t, pending)
	_, pending = h2.OTA().PendingUpdate(ref)
	assert.False(t, pending)
	assert.Equal(t, "pushed", h1.OTA().DeviceStatus(ref).State)
	assert.Empty(t, h2.OTA().DeviceStatus(ref).State)

	// CoAP: the response mode is per hub.
	h1.CoAP().SetSeparate(true)
	assert.True(t, h1.CoAP().Info().Separate)
	assert.False(t, h2.CoAP().Info().Separate)

	// Closing one hub ends its services only.
	require.NoError(t, h1.Close())
	assert.Nil(t, h1.OTA())
	assert.Nil(t, h1.CoAP())
	require.NotNil(t, h2.OTA())
	require.NotNil(t, h2.CoAP())
	_, err = h2.OTA().Upload("", "3.0.0", []byte("firmware"))
	require.NoError(t, err)
	assert.Len(t, h2.OTA().Info().Firmware, 2)
}
