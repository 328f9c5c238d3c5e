package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/internal/testlog"
)

// Two devices in one process against an in-process hubsim: each publishes
// to its own control topic and receives only what was sent there — its own
// notes and a message the hub sends it — never the other device's.
func TestTwoDevicesEachGetOnlyTheirOwn(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	const pid = "PEXTWODEV1"
	config := func(dn string) string {
		dir := hubtest.DeviceDir(t, hub, pid, dn, false)
		return hubtest.WriteConfig(t, dir, "device_info: device_info.json\n"+hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile()))
	}
	configA, configB := config("dev-a"), config("dev-b")
	require.NotEqual(t, filepath.Dir(configA), filepath.Dir(configB))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testlog.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config-a", configA, "-config-b", configB, "-interval", "100ms"}, &out)
	}()

	// Each device hears its own notes back through its subscription.
	for _, name := range []string{"a", "b"} {
		want := name + `: received on ` + pid + `/dev-` + name + `/control: {"from":"` + name + `","seq":2}`
		require.Eventually(t, func() bool { return strings.Contains(out.String(), want) },
			20*time.Second, 20*time.Millisecond, "%q in the output:\n%s", want, &out)
	}
	// And a message the hub sends to one reaches that one only.
	for _, name := range []string{"a", "b"} {
		require.NoError(t, hub.Publish(pid+"/dev-"+name+"/control", []byte(`{"hub":"to `+name+`"}`), 1))
	}
	for _, name := range []string{"a", "b"} {
		want := name + `: received on ` + pid + `/dev-` + name + `/control: {"hub":"to ` + name + `"}`
		require.Eventually(t, func() bool { return strings.Contains(out.String(), want) },
			10*time.Second, 20*time.Millisecond, "%q in the output:\n%s", want, &out)
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10s of cancel")
	}

	// The hub got each device's notes on that device's topic, QoS 1.
	for _, name := range []string{"a", "b"} {
		dn := "dev-" + name
		n := 0
		for _, r := range hub.Messages(pid, dn) {
			if r.Direction != hubsim.Up {
				continue
			}
			assert.Equal(t, pid+"/"+dn+"/control", r.Topic)
			assert.False(t, r.Denied, r.Reason)
			assert.Equal(t, byte(1), r.QoS)
			assert.Contains(t, r.Payload, `"from":"`+name+`"`)
			n++
		}
		assert.GreaterOrEqual(t, n, 2, dn)
	}
	// No device received what was meant for the other.
	for _, line := range strings.Split(out.String(), "\n") {
		name, rest, ok := strings.Cut(line, ": received on ")
		if !ok {
			continue
		}
		other := map[string]string{"a": "b", "b": "a"}[name]
		require.NotEmpty(t, other, line)
		assert.Contains(t, rest, pid+"/dev-"+name+"/control:", line)
		assert.NotContains(t, rest, `"from":"`+other+`"`, line)
		assert.NotContains(t, rest, `"to `+other+`"`, line)
	}
}

// A bad configuration stops the program before any device runs, and names
// the device.
func TestBadConfig(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	dir := hubtest.DeviceDir(t, hub, "PEXTWODEV2", "dev-a", false)
	good := hubtest.WriteConfig(t, dir, "device_info: device_info.json\n"+hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile()))
	var out bytes.Buffer
	err := run(context.Background(), []string{"-config-a", good, "-config-b", filepath.Join(t.TempDir(), "missing.yaml")}, &out)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "device b:")
	assert.Error(t, run(context.Background(), []string{"-interval", "-1s"}, &out))
}
