package iotdcli

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/iotd/iotd/features/ota"
	"github.com/iotd/iotd/hubsim"
)

// An A/B install through the daemon: the hook exits 3, `iotd ota status`
// says the install waits for its reboot, `iotd ota success` confirms it
// and the hub sees done and the new version; then a program's own
// install reported with begin and fail.
func TestOTAReportsThroughTheCLI(t *testing.T) {
	hub := startHub(t)
	const pid, dn = "PCLIOTA001", "dev1"
	_, err := hub.CreateDevice(pid, dn, false)
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = hub.WriteDeviceInfo(pid, dn, dir)
	require.NoError(t, err)
	sock := filepath.Join(dir, "iotd.sock")
	runDaemon(t, filepath.Join(dir, "iotd.yaml"), fmt.Sprintf(`device_info: device_info.json
socket: %s
state_dir: state
link: {driver: tls, endpoint: %s, driver_config: {ca_file: %s}}
features:
  ota:
    version: 1.0.0
    ca_file: %s
    hook: {command: ["/bin/sh", "-c", "exit 3"]}
`, sock, hub.TLSAddr(), hub.CAFile(), hub.CAFile()))
	ref := hubsim.DeviceRef{ProductID: pid, DeviceName: dn}
	require.Eventually(t, func() bool { return hub.OTA().DeviceStatus(ref).Version == "1.0.0" }, 20*time.Second, 20*time.Millisecond)

	data := make([]byte, 64<<10)
	_, err = rand.Read(data)
	require.NoError(t, err)
	fw, err := hub.OTA().Upload("", "2.0.0", data)
	require.NoError(t, err)
	_, err = hub.OTA().Push(ref, hubsim.OTAPushRequest{Firmware: fw.Name})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out syncBuf
	require.Eventually(t, func() bool {
		out = syncBuf{}
		require.NoError(t, runCLI(ctx, &out, "--socket", sock, "ota", "status"))
		return strings.Contains(out.String(), "state:    reboot_pending")
	}, 20*time.Second, 50*time.Millisecond, "the install waits for its reboot")
	assert.Contains(t, out.String(), "target:   2.0.0")
	assert.Equal(t, "burning", hub.OTA().DeviceStatus(ref).State)

	out = syncBuf{}
	require.NoError(t, runCLI(ctx, &out, "--socket", sock, "ota", "success"))
	assert.Contains(t, out.String(), "version:  2.0.0")
	require.Eventually(t, func() bool { return hub.OTA().DeviceStatus(ref).Version == "2.0.0" }, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, "done", hub.OTA().DeviceStatus(ref).State)

	// The program's own install, begun and then failed.
	out = syncBuf{}
	require.NoError(t, runCLI(ctx, &out, "--socket", sock, "ota", "begin", "2.1.0"))
	assert.Contains(t, out.String(), "state:    burning")
	out = syncBuf{}
	require.NoError(t, runCLI(ctx, &out, "--socket", sock, "ota", "fail", "--code", "-4", "--message", "bad signature"))
	assert.Contains(t, out.String(), "error:    -4 bad signature")
	require.Eventually(t, func() bool { return hub.OTA().DeviceStatus(ref).ResultCode == "-4" }, 20*time.Second, 20*time.Millisecond)
	assert.Equal(t, "bad signature", hub.OTA().DeviceStatus(ref).ResultMsg)

	// Nothing to report and a bad code are clear errors.
	assert.ErrorContains(t, runCLI(ctx, &out, "--socket", sock, "ota", "success"), "no update to report")
	assert.ErrorContains(t, runCLI(ctx, &out, "--socket", sock, "ota", "fail", "2.2.0", "--code", "3"), "negative")
	assert.ErrorContains(t, runCLI(ctx, &out, "--socket", sock, "ota", "begin"), "name the VERSION")
}
