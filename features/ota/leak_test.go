package ota

import (
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

// Run stopped in the middle of a download leaves no goroutine behind: not
// the job, not the watchdog, not the HTTP connection.
func TestNoGoroutineLeak(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	require.NoError(t, hub.OTA().SetFaults(hubsim.OTAFaults{Rate: 1 << 20}))
	dev := hubtest.Connect(t, hub, "POTALEAK01", "dev1")
	before := runtime.NumGoroutine()

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
	tr.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()

	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after Run returned:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
