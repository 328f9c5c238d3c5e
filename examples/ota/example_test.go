package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/internal/testlog"
)

// rig is the example's device against an in-process hubsim.
type rig struct {
	hub    *hubsim.Hub
	ref    hubsim.DeviceRef
	config string
	slots  string
}

func newRig(t *testing.T, pid string) *rig {
	hub := hubtest.StartHub(t, nil)
	dir := hubtest.DeviceDir(t, hub, pid, "board1", false)
	config := hubtest.WriteConfig(t, dir, "device_info: device_info.json\nstate_dir: state\n"+
		hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile())+
		"features:\n  ota: {version: 1.0.0, ca_file: "+hub.CAFile()+"}\n")
	return &rig{hub: hub, ref: hubsim.DeviceRef{ProductID: pid, DeviceName: "board1"}, config: config, slots: filepath.Join(dir, "slots")}
}

// start runs the program; wait returns its error once it ended by itself
// or, with stop, after its ctx is cancelled.
func (r *rig) start(t *testing.T, out *testlog.Buffer, mode string) (wait func(stop bool) error) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", r.config, "-slots", r.slots, "-mode", mode}, out) }()
	return func(stop bool) error {
		if stop {
			cancel()
		}
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatalf("run did not return; output:\n%s", out)
			return nil
		}
	}
}

func (r *rig) push(t *testing.T, version string) []byte {
	data := make([]byte, 200<<10)
	_, err := rand.Read(data)
	require.NoError(t, err)
	fw, err := r.hub.OTA().Upload("", version, data)
	require.NoError(t, err)
	_, err = r.hub.OTA().Push(r.ref, hubsim.OTAPushRequest{Firmware: fw.Name})
	require.NoError(t, err)
	return data
}

func (r *rig) waitHub(t *testing.T, what string, out *testlog.Buffer, cond func(hubsim.OTADeviceStatus) bool) {
	require.Eventually(t, func() bool { return cond(r.hub.OTA().DeviceStatus(r.ref)) }, 30*time.Second, 20*time.Millisecond,
		"%s; hub sees %+v; output:\n%s", what, r.hub.OTA().DeviceStatus(r.ref), out)
}

// An A/B update: the image goes into slot b and the program "reboots";
// the hub sees burning, not a failure. Started again, it boots slot b,
// checks it and confirms: the hub sees done and version 2.0.0.
func TestABUpdate(t *testing.T) {
	r := newRig(t, "PEXOTA0001")
	var out testlog.Buffer
	wait := r.start(t, &out, "ab")
	r.waitHub(t, "version 1.0.0 reported", &out, func(s hubsim.OTADeviceStatus) bool { return s.Version == "1.0.0" })
	data := r.push(t, "2.0.0")
	require.NoError(t, wait(false), "the program ends to reboot")
	assert.Contains(t, out.String(), "installed 2.0.0 into slot b; rebooting into it")
	assert.Contains(t, out.String(), "reboot to run 2.0.0")
	st := r.hub.OTA().DeviceStatus(r.ref)
	assert.Equal(t, "burning", st.State)
	assert.Equal(t, "1.0.0", st.Version)
	slotB, err := os.ReadFile(filepath.Join(r.slots, "b.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, slotB))

	var out2 testlog.Buffer
	wait = r.start(t, &out2, "ab")
	r.waitHub(t, "done", &out2, func(s hubsim.OTADeviceStatus) bool { return s.State == "done" && s.Version == "2.0.0" })
	require.Eventually(t, func() bool {
		return bytes.Contains([]byte(out2.String()), []byte("booted 2.0.0 from slot b: confirmed"))
	},
		10*time.Second, 20*time.Millisecond, "output:\n%s", &out2)
	require.NoError(t, wait(true))
	active, err := os.ReadFile(filepath.Join(r.slots, "active"))
	require.NoError(t, err)
	assert.Equal(t, "b\n", string(active))
}

// The booted slot fails its health check: the program boots back and the
// hub sees the update fail with -5 and the reason.
func TestABUpdateRejected(t *testing.T) {
	r := newRig(t, "PEXOTA0002")
	var out testlog.Buffer
	wait := r.start(t, &out, "ab")
	r.waitHub(t, "version 1.0.0 reported", &out, func(s hubsim.OTADeviceStatus) bool { return s.Version == "1.0.0" })
	r.push(t, "2.0.0")
	require.NoError(t, wait(false))
	// The slot is corrupted before the reboot.
	require.NoError(t, os.WriteFile(filepath.Join(r.slots, "b.bin"), []byte("garbage"), 0o600))

	var out2 testlog.Buffer
	wait = r.start(t, &out2, "ab")
	r.waitHub(t, "fail", &out2, func(s hubsim.OTADeviceStatus) bool { return s.State == "fail" })
	st := r.hub.OTA().DeviceStatus(r.ref)
	assert.Equal(t, "-5", st.ResultCode)
	assert.Contains(t, st.ResultMsg, "health check: slot b holds an image with MD5")
	assert.Equal(t, "1.0.0", st.Version)
	require.NoError(t, wait(true))
	assert.Contains(t, out2.String(), "failed its health check")
	active, err := os.ReadFile(filepath.Join(r.slots, "active"))
	require.NoError(t, err)
	assert.Equal(t, "a\n", string(active))
}

// In place: the running slot is overwritten and the update is done at
// once, without a reboot.
func TestInPlaceUpdate(t *testing.T) {
	r := newRig(t, "PEXOTA0003")
	var out testlog.Buffer
	wait := r.start(t, &out, "inplace")
	r.waitHub(t, "version 1.0.0 reported", &out, func(s hubsim.OTADeviceStatus) bool { return s.Version == "1.0.0" })
	data := r.push(t, "1.1.0")
	r.waitHub(t, "done", &out, func(s hubsim.OTADeviceStatus) bool { return s.State == "done" && s.Version == "1.1.0" })
	require.NoError(t, wait(true))
	assert.Contains(t, out.String(), "installed 1.1.0 into the running slot a")
	slotA, err := os.ReadFile(filepath.Join(r.slots, "a.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, slotA))
}

func TestBadFlags(t *testing.T) {
	var out bytes.Buffer
	assert.Error(t, run(context.Background(), []string{"-nosuch"}, &out))
	assert.ErrorContains(t, run(context.Background(), []string{"-mode", "x"}, &out), "use ab or inplace")
}
