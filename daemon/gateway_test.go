package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/features/gateway"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/localapi"
)

// A gateway daemon binds its configured sub-devices, brings them online,
// and lets local applications publish and subscribe as them.
func TestGatewayThroughDaemon(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PGW0000001", "gw1", false)
	var subs strings.Builder
	for _, dn := range []string{"s1", "s2"} {
		info, err := hub.CreateDevice("PSUB000001", dn, false)
		require.NoError(t, err)
		fmt.Fprintf(&subs, "      - {product_id: PSUB000001, device_name: %s, device_secret: %q}\n", dn, info.KeyDeviceInfo.DeviceSecret)
	}
	r := startDaemon(t, configFor(t, hub, dir, "features:\n  gateway:\n    auto_bind: true\n    sub_devices:\n"+subs.String()))
	r.waitStatus(t, "connected", connected)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.Eventually(t, func() bool {
		list, err := r.client.GatewaySubDevices(ctx)
		if err != nil || len(list) != 2 {
			return false
		}
		for _, s := range list {
			if s.State != gateway.StateOnline {
				return false
			}
		}
		return true
	}, 15*time.Second, 20*time.Millisecond)

	// Publish as a sub-device: it lands in the sub-device's log at the hub.
	_, err := r.client.Publish(ctx, localapi.PublishRequest{Topic: "PSUB000001/s1/event", Payload: "from s1", QoS: 1})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, m := range hub.Messages("PSUB000001", "s1") {
			if m.Payload == "from s1" && !m.Denied {
				return true
			}
		}
		return false
	}, 5*time.Second, 20*time.Millisecond)

	// The sub-device's own shadow, through the gateway.
	sub := r.client.WithSubDevice("PSUB000001/s1")
	_, err = sub.ShadowReport(ctx, localapi.ShadowReport{Reported: map[string]json.RawMessage{"brightness": json.RawMessage(`80`)}})
	require.NoError(t, err)
	view, err := hubsim.NewClient(hub.AdminURL()).Shadow(ctx, "PSUB000001", "s1")
	require.NoError(t, err)
	assert.JSONEq(t, `80`, string(view.Reported["brightness"]))
	doc, err := sub.Shadow(ctx)
	require.NoError(t, err)
	assert.Equal(t, view.Version, doc.Version)
	own, err := r.client.ShadowGet(ctx)
	require.NoError(t, err)
	assert.NotContains(t, own.Reported, "brightness", "the gateway's own shadow is separate")

	// Take s2 offline: its topics are refused again, locally.
	res, err := r.client.GatewayOp(ctx, "offline", []string{"PSUB000001/s2"})
	require.NoError(t, err)
	require.Len(t, res.Results, 1)
	assert.Empty(t, res.Error)
	_, err = r.client.Publish(ctx, localapi.PublishRequest{Topic: "PSUB000001/s2/event", Payload: "x", QoS: 1})
	assert.ErrorContains(t, err, "does not belong to this device")

	_, err = r.client.WithSubDevice("PSUB000001/s2").ShadowGet(ctx)
	assert.ErrorContains(t, err, "not an online sub-device")

	views, err := hubsim.NewClient(hub.AdminURL()).SubDevices(ctx, "PGW0000001", "gw1")
	require.NoError(t, err)
	assert.Len(t, views, 2)
}

// With log upload on, iotd's own log lines and an application's line
// reach the hub's log service, signed.
func TestLogUploadThroughDaemon(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PLOG000001", "dev1", false)
	admin := hubsim.NewClient(hub.AdminURL())
	r := startDaemon(t, configFor(t, hub, dir, fmt.Sprintf(
		"features:\n  logupload:\n    enabled: true\n    url: %s\n    level: 4\n    flush_interval: 100ms\n", admin.LogURL())))
	r.waitStatus(t, "connected", connected)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := r.client.Log(ctx, localapi.LogLine{Level: "warn", Source: "sensor-app", Text: "humidity sensor not answering"})
	require.NoError(t, err)
	var lines []hubsim.LogLine
	require.Eventually(t, func() bool {
		var err error
		lines, err = admin.Logs(ctx, "PLOG000001", "dev1")
		if err != nil {
			return false
		}
		var own, app bool
		for _, l := range lines {
			own = own || strings.Contains(l.Line, "iotd starting") || strings.Contains(l.Line, "link: connected")
			app = app || strings.Contains(l.Line, "humidity sensor not answering")
		}
		return own && app
	}, 15*time.Second, 50*time.Millisecond, "lines at the hub: %v", lines)
	st, err := r.client.Status(ctx)
	require.NoError(t, err)
	require.NotNil(t, st.Features.LogUpload)
}

// A sub-device online through the gateway gets its own OTA: its version is
// reported when it comes online, and an update pushed to it is downloaded,
// installed by its hook and reported done, under its own identity.
func TestSubDeviceOTAThroughGateway(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PGW0000002", "gw1", false)
	info, err := hub.CreateDevice("PSUB000002", "lamp", false)
	require.NoError(t, err)
	installed := filepath.Join(t.TempDir(), "installed")
	cfg := configFor(t, hub, dir, fmt.Sprintf(`features:
  gateway:
    auto_bind: true
    sub_devices:
      - {product_id: PSUB000002, device_name: lamp, device_secret: %q}
  sub_device_ota:
    PSUB000002/lamp:
      version: 0.9.0
      ca_file: %s
      hook: {command: ["/bin/sh", "-c", "echo \"$2\" >> %s", "install"]}
`, info.KeyDeviceInfo.DeviceSecret, hub.CAFile(), installed))
	r := startDaemon(t, cfg)
	r.waitStatus(t, "connected", connected)
	sub := hubsim.DeviceRef{ProductID: "PSUB000002", DeviceName: "lamp"}
	require.Eventually(t, func() bool { return hub.OTA().DeviceStatus(sub).Version == "0.9.0" }, 15*time.Second, 20*time.Millisecond,
		"the sub-device's version is reported once it is online; log:\n%s", r.log)

	image := bytes.Repeat([]byte("lamp firmware "), 50000)
	_, err = hub.OTA().Upload("lamp-1.0.bin", "1.0.0", image)
	require.NoError(t, err)
	_, err = hub.OTA().Push(sub, hubsim.OTAPushRequest{Version: "1.0.0"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		st := hub.OTA().DeviceStatus(sub)
		return st.State == "done" && st.Version == "1.0.0"
	}, 20*time.Second, 20*time.Millisecond)
	b, err := os.ReadFile(installed)
	require.NoError(t, err)
	assert.Equal(t, "1.0.0\n", string(b))
	gw := hub.OTA().DeviceStatus(hubsim.DeviceRef{ProductID: "PGW0000002", DeviceName: "gw1"})
	assert.NotEqual(t, "1.0.0", gw.Version, "the gateway's own version is untouched")
	st, err := r.client.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", st.Features.SubDeviceOTA["PSUB000002/lamp"].Version)
}
