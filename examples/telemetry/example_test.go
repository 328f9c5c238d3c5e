package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/internal/testlog"
)

// The program against an in-process hubsim: its telemetry reaches the
// hub on the device's event topic with QoS 1, each publish is printed as
// acknowledged, and run returns nil once its ctx is cancelled.
func TestTelemetryReachesHub(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	const pid, dn = "PEXTELEM01", "sensor1"
	dir := hubtest.DeviceDir(t, hub, pid, dn, false)
	config := hubtest.WriteConfig(t, dir, "device_info: device_info.json\n"+hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile()))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testlog.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", config, "-interval", "100ms"}, &out) }()

	const topic = pid + "/" + dn + "/event"
	var got []hubsim.Record
	require.Eventually(t, func() bool {
		got = got[:0]
		for _, r := range hub.Messages(pid, dn) {
			if r.Direction == hubsim.Up && r.Topic == topic && !r.Denied {
				got = append(got, r)
			}
		}
		return len(got) >= 3
	}, 20*time.Second, 20*time.Millisecond, "three telemetry messages at the hub; output:\n%s", &out)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10s of cancel")
	}

	for i, r := range got[:3] {
		assert.Equal(t, byte(1), r.QoS)
		var m Telemetry
		require.NoError(t, json.Unmarshal(r.PayloadBytes(), &m), r.Payload)
		assert.Equal(t, i+1, m.Seq)
		assert.NotZero(t, m.Temperature)
	}
	s := out.String()
	assert.Contains(t, s, "device "+pid+"/"+dn+": publishing to "+topic)
	assert.Contains(t, s, `publish #1: acknowledged {"seq":1,`)
	assert.Contains(t, s, `publish #3: acknowledged {"seq":3,`)
}

func TestBadFlagsAndConfig(t *testing.T) {
	var out bytes.Buffer
	assert.Error(t, run(context.Background(), []string{"-nosuch"}, &out))
	assert.Error(t, run(context.Background(), []string{"-interval", "0s"}, &out))
	err := run(context.Background(), []string{"-config", t.TempDir() + "/missing.yaml"}, &out)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "missing.yaml"), err.Error())
}
