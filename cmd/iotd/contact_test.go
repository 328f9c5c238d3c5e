package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
)

// `iotd run --check` prints the region, the endpoints iotd would use,
// what verifies the server and the features, without connecting.
func TestCheckPrintsTheContact(t *testing.T) {
	bin := buildIotd(t)
	dir := checkDeviceDir(t)
	cfg := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("device_info: device_info.json\n"), 0o600))

	out, err := exec.Command(bin, "run", "--check", "--config", cfg).CombinedOutput()
	require.NoError(t, err, string(out))
	s := string(out)
	assert.Contains(t, s, "configuration and ")
	assert.Regexp(t, `region +europe \(registration and log endpoints from the newer SDK's tables`, s)
	assert.Regexp(t, `endpoint +PCHK000001\.europe\.iothub\.tencentdevices\.com:8883 \(mqtt over tls; from region europe\)`, s)
	assert.Regexp(t, `trust +the Tencent IoT Hub CAs bundled with iotd`, s)
	assert.Contains(t, s, "- CN=www.tencent.com,OU=Tencent Iothub,O=Tencent,L=ShenZhen,ST=GuangDong,C=CN [tencent-iothub-ca-2017.pem], valid until 2032-11-23")
	assert.Regexp(t, `registration +https://europe\.gateway\.tencentdevices\.com/register/dev`, s)
	assert.Regexp(t, `(?m)^features +broadcast, gateway, ota, rrpc, shadow, timesync; off: logupload \(not enabled in the configuration\), sub_device_ota \(not enabled in the configuration\)$`, s)
	assert.NotContains(t, s, "log upload", "log upload is off by default: no log upload line")
}

// checkDeviceDir returns a directory with the device_info.json of the
// check tests: a key device in region europe.
func checkDeviceDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	info := &core.DeviceInfo{AuthMode: core.AuthKey, ProductID: "PCHK000001", DeviceName: "dev1", Region: "europe"}
	info.KeyDeviceInfo.DeviceSecret = "c2VjcmV0IHNlY3JldCE="
	require.NoError(t, core.SaveDeviceInfo(filepath.Join(dir, "device_info.json"), info))
	return dir
}

// The features line lists what will run and, for each feature that will
// not, why: the configuration, or the channel lacking what it needs. The
// log upload line shows only while log upload is on.
func TestCheckPrintsTheFeatures(t *testing.T) {
	bin := buildIotd(t)
	dir := checkDeviceDir(t)
	check := func(t *testing.T, yaml string) string {
		cfg := filepath.Join(t.TempDir(), "iotd.yaml")
		require.NoError(t, os.WriteFile(cfg, []byte("device_info: "+filepath.Join(dir, "device_info.json")+"\n"+yaml), 0o600))
		cmd := exec.Command(bin, "run", "--check", "--config", cfg)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, stderr.String())
		return string(out)
	}
	t.Run("disabled in the configuration", func(t *testing.T) {
		s := check(t, "features:\n  shadow:\n    disabled: true\n")
		assert.Regexp(t, `(?m)^features +broadcast, gateway, ota, rrpc, timesync; off: logupload \(not enabled in the configuration\), shadow \(disabled in the configuration\), sub_device_ota \(not enabled in the configuration\)$`, s)
		assert.NotContains(t, s, "log upload")
	})
	t.Run("log upload on", func(t *testing.T) {
		s := check(t, "features:\n  logupload:\n    enabled: true\n")
		assert.Regexp(t, `(?m)^log upload +http://europe\.gateway\.tencentdevices\.com/device/reportlog$`, s)
		assert.Regexp(t, `(?m)^features +broadcast, gateway, logupload, ota, rrpc, shadow, timesync; off: sub_device_ota \(not enabled in the configuration\)$`, s)
	})
	t.Run("channel coap", func(t *testing.T) {
		s := check(t, "channel: coap\n")
		assert.Regexp(t, `(?m)^features +ota; off: broadcast \(switched off by channel coap: it needs downlink\), gateway \(switched off by channel coap: it needs downlink\), logupload \(not enabled in the configuration\), rrpc \(switched off by channel coap: it needs downlink\), shadow \(switched off by channel coap: it needs downlink\), sub_device_ota \(not enabled in the configuration\), timesync \(switched off by channel coap: it needs downlink\)$`, s)
		assert.NotContains(t, s, "log upload")
	})
}
