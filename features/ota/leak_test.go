package ota

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/internal/leakcheck"
)

// Run stopped in the middle of a download leaves no goroutine behind: not
// the job, not the watchdog, not the HTTP connection.
func TestNoGoroutineLeak(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	require.NoError(t, hub.OTA().SetFaults(hubsim.OTAFaults{Rate: 1 << 20}))
	dev := hubtest.Connect(t, hub, "POTALEAK01", "dev1")
	snap := leakcheck.Take()

	tr := transport(t, hub)
	o, err := New(Config{Version: "1.0.0"}, dev.Bus, "POTALEAK01", "dev1", Env{StateDir: t.TempDir(), Transport: tr}, nil)
	require.NoError(t, err)
	stop := runFeature(t, o)
	ref := hubsim.DeviceRef{ProductID: "POTALEAK01", DeviceName: "dev1"}
	require.Eventually(t, func() bool { return hub.OTA().DeviceStatus(ref).Version == "1.0.0" }, 10*time.Second, 10*time.Millisecond)
	data, _ := randomFile(t, 4<<20)
	fw, err := hub.OTA().Upload("", "2.0.0", data)
	require.NoError(t, err)
	_, err = hub.OTA().Push(ref, hubsim.OTAPushRequest{Firmware: fw.Name})
	require.NoError(t, err)
	waitStatus(t, o, func(s Status) bool { return s.Bytes > 0 })
	stop()
	snap.Check(t, 10*time.Second, func() {
		tr.CloseIdleConnections()
		http.DefaultClient.CloseIdleConnections()
	})
}
