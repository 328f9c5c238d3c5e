package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/internal/testlog"
)

// The program against an in-process hubsim: the gateway binds its two
// sub-devices and brings them online (the feature's own auto_online is
// off), the hub receives each one's telemetry on that sub-device's event
// topic, and once ctx ends the gateway takes them offline. A configured
// sub-device the hub does not know fails on its own and is left out.
func TestGatewayPublishesForSubDevices(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	const gwPID, gwDN, subPID = "PEXGATEW01", "gw1", "PEXGWSUB01"
	dir := hubtest.DeviceDir(t, hub, gwPID, gwDN, false)
	var subs strings.Builder
	for _, dn := range []string{"s1", "s2"} {
		info, err := hub.CreateDevice(subPID, dn, false)
		require.NoError(t, err)
		fmt.Fprintf(&subs, "      - {product_id: %s, device_name: %s, device_secret: %q}\n", subPID, dn, info.KeyDeviceInfo.DeviceSecret)
	}
	fmt.Fprintf(&subs, "      - {product_id: %s, device_name: ghost, device_secret: c2VjcmV0}\n", subPID)
	config := hubtest.WriteConfig(t, dir, "device_info: device_info.json\n"+hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile())+
		"features:\n  gateway:\n    auto_online: false\n    sub_devices:\n"+subs.String())
	admin := hubsim.NewClient(hub.AdminURL())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testlog.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", config, "-interval", "100ms"}, &out) }()

	// Each sub-device's telemetry reaches the hub on its own topic.
	got := map[string][]hubsim.Record{}
	for _, dn := range []string{"s1", "s2"} {
		topic := subPID + "/" + dn + "/event"
		require.Eventually(t, func() bool {
			got[dn] = got[dn][:0]
			for _, r := range hub.Messages(subPID, dn) {
				if r.Direction == hubsim.Up && r.Topic == topic && !r.Denied {
					got[dn] = append(got[dn], r)
				}
			}
			return len(got[dn]) >= 2
		}, 20*time.Second, 20*time.Millisecond, "two messages of %s at the hub; output:\n%s", dn, &out)
	}
	// Both are online through the gateway, at the hub.
	views, err := admin.SubDevices(ctx, gwPID, gwDN)
	require.NoError(t, err)
	assert.ElementsMatch(t, []hubsim.SubDeviceView{
		{ProductID: subPID, DeviceName: "s1", Online: true},
		{ProductID: subPID, DeviceName: "s2", Online: true},
	}, views)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return within 20s of cancel")
	}

	for dn, recs := range got {
		for i, r := range recs[:2] {
			assert.Equal(t, byte(1), r.QoS, dn)
			var m Telemetry
			require.NoError(t, json.Unmarshal(r.PayloadBytes(), &m), r.Payload)
			assert.Equal(t, i+1, m.Seq, dn)
			assert.NotZero(t, m.Temperature, dn)
		}
	}
	assert.Empty(t, hub.Messages(subPID, "ghost"))
	// The gateway asked the hub to take both offline before it left.
	offline := false
	for _, r := range hub.Messages(gwPID, gwDN) {
		if r.Direction == hubsim.Up && r.Topic == "$gateway/operation/"+gwPID+"/"+gwDN && strings.Contains(r.Payload, `"type":"offline"`) {
			offline = true
			assert.Contains(t, r.Payload, `"device_name":"s1"`)
			assert.Contains(t, r.Payload, `"device_name":"s2"`)
			assert.NotContains(t, r.Payload, `"device_name":"ghost"`)
		}
	}
	assert.True(t, offline, "an offline request at the hub")

	s := out.String()
	assert.Contains(t, s, "gateway "+gwPID+"/"+gwDN+": 3 sub-devices")
	for _, dn := range []string{"s1", "s2"} {
		sub := subPID + "/" + dn
		for _, op := range []string{"bind", "online", "offline"} {
			assert.Contains(t, s, op+" "+sub+": ok\n")
		}
		assert.Contains(t, s, sub+": publish #1 to "+sub+"/event: acknowledged {\"seq\":1,")
	}
	assert.Contains(t, s, fmt.Sprintf("online %s/ghost: refused by the hub, result %d\n", subPID, hubsim.GatewayUnknownSubDevice))
}

// A gateway without sub-devices, or with the feature off, fails before
// anything connects.
func TestGatewayNothingToDo(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	dir := hubtest.DeviceDir(t, hub, "PEXGATEW02", "gw1", false)
	link := "device_info: device_info.json\n" + hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile())
	var out bytes.Buffer
	err := run(context.Background(), []string{"-config", hubtest.WriteConfig(t, dir, link)}, &out)
	assert.ErrorContains(t, err, "features.gateway.sub_devices")
	err = run(context.Background(), []string{"-config", hubtest.WriteConfig(t, dir, link+"features:\n  gateway:\n    disabled: true\n")}, &out)
	assert.ErrorContains(t, err, "features.gateway.disabled")
	assert.Empty(t, hub.Messages("PEXGATEW02", "gw1"))
}

func TestBadFlagsAndConfig(t *testing.T) {
	var out bytes.Buffer
	assert.Error(t, run(context.Background(), []string{"-nosuch"}, &out))
	assert.Error(t, run(context.Background(), []string{"-interval", "0s"}, &out))
	err := run(context.Background(), []string{"-config", t.TempDir() + "/missing.yaml"}, &out)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "missing.yaml"), err.Error())
}
