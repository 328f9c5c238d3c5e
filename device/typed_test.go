package device_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/device"
	_ "github.com/iotd/iotd/features/gateway"
	_ "github.com/iotd/iotd/features/shadow"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/localapi"
)

// The typed shadow: report then get, and a desired value set at the hub
// arrives as a delta, which the program applies and clears.
func TestShadowTyped(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	const pid, dn = "PDEVSHD001", "dev1"
	d := start(t, configFor(t, hub, pid, dn, hub.TLSAddr(), ""))
	waitStatus(t, d, "connected", connected)
	ctx := ctxT(t)
	sh, err := d.Shadow()
	require.NoError(t, err)

	doc, err := sh.Report(ctx, map[string]json.RawMessage{"temp": json.RawMessage(`21`)})
	require.NoError(t, err)
	assert.JSONEq(t, `21`, string(doc.Reported["temp"]))
	got, err := sh.Get(ctx)
	require.NoError(t, err)
	assert.JSONEq(t, `21`, string(got.Reported["temp"]))
	assert.Positive(t, got.Version)
	assert.Equal(t, got.Version, sh.Document().Version)

	deltas := sh.Watch(ctx)
	admin := hubsim.NewClient(hub.AdminURL())
	v, err := admin.SetDesired(ctx, pid, dn, map[string]json.RawMessage{"light": json.RawMessage(`"on"`)}, false)
	require.NoError(t, err)
	select {
	case delta := <-deltas:
		assert.JSONEq(t, `"on"`, string(delta.State["light"]))
		assert.Equal(t, v.Version, delta.Version)
		assert.Equal(t, "push", delta.Source)
	case <-ctx.Done():
		t.Fatal("no delta")
	}

	doc, err = sh.ReportAndClearDesired(ctx, map[string]json.RawMessage{"light": json.RawMessage(`"on"`)})
	require.NoError(t, err)
	assert.NotContains(t, doc.Desired, "light")
	view, err := admin.Shadow(ctx, pid, dn)
	require.NoError(t, err)
	assert.NotContains(t, view.Desired, "light")
	assert.JSONEq(t, `"on"`, string(view.Reported["light"]))
	assert.JSONEq(t, `21`, string(view.Reported["temp"]))
}

// The typed gateway binds a configured sub-device and brings it online.
func TestGatewayTyped(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	info, err := hub.CreateDevice("PDEVSUB001", "s1", false)
	require.NoError(t, err)
	extra := fmt.Sprintf("features:\n  gateway:\n    auto_online: false\n    sub_devices:\n      - {product_id: PDEVSUB001, device_name: s1, device_secret: %q}\n",
		info.KeyDeviceInfo.DeviceSecret)
	d := start(t, configFor(t, hub, "PDEVGW0001", "gw1", hub.TLSAddr(), extra))
	waitStatus(t, d, "connected", connected)
	ctx := ctxT(t)
	gw, err := d.Gateway()
	require.NoError(t, err)
	s1 := localapi.DeviceRef{ProductID: "PDEVSUB001", DeviceName: "s1"}

	res, err := gw.Bind(ctx, s1)
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Equal(t, s1, res[0].DeviceRef)
	assert.Zero(t, res[0].Code)
	bound, err := gw.Describe(ctx)
	require.NoError(t, err)
	assert.Contains(t, bound, s1)

	res, err = gw.Online(ctx, s1)
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.Zero(t, res[0].Code)
	subs := gw.SubDevices()
	require.Len(t, subs, 1)
	assert.Equal(t, localapi.SubDevice{DeviceRef: s1, State: "online", Bound: true, Configured: true, CanBind: true, Since: subs[0].Since}, subs[0])
	views, err := hubsim.NewClient(hub.AdminURL()).SubDevices(ctx, "PDEVGW0001", "gw1")
	require.NoError(t, err)
	assert.Contains(t, views, hubsim.SubDeviceView{ProductID: "PDEVSUB001", DeviceName: "s1", Online: true})

	// An unknown sub-device fails with its result, and the error says so.
	res, err = gw.Online(ctx, localapi.DeviceRef{ProductID: "PDEVSUB001", DeviceName: "nosuch"})
	require.Error(t, err)
	require.Len(t, res, 1)
	assert.NotZero(t, res[0].Code)
}

// A feature switched off in the configuration, or not linked into the
// program, is a clear error naming the key or the import.
func TestShadowGatewayOffOrNotLinked(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	cfg := configFor(t, hub, "PDEVOFF001", "dev1", hub.TLSAddr(), "features:\n  shadow:\n    disabled: true\n  gateway:\n    disabled: true\n")
	d, err := device.New(cfg, device.WithRegistry(hubtest.Registry(t)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })

	_, err = d.Shadow()
	assert.ErrorIs(t, err, device.ErrFeatureOff)
	assert.ErrorContains(t, err, "features.shadow.disabled")
	_, err = d.Gateway()
	assert.ErrorIs(t, err, device.ErrFeatureOff)
	assert.ErrorContains(t, err, "features.gateway.disabled")

	// This test binary does not link features/ota.
	_, err = device.FeatureNamed(d, "ota")
	assert.ErrorIs(t, err, device.ErrFeatureNotLinked)
	assert.ErrorContains(t, err, `import _ "github.com/iotd/iotd/features/ota"`)
}
