package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
)

// `iotd run --check` prints the region, the endpoints iotd would use and
// what verifies the server, without connecting.
func TestCheckPrintsTheContact(t *testing.T) {
	bin := buildIotd(t)
	dir := t.TempDir()
	info := &core.DeviceInfo{AuthMode: core.AuthKey, ProductID: "PCHK000001", DeviceName: "dev1", Region: "europe"}
	info.KeyDeviceInfo.DeviceSecret = "c2VjcmV0IHNlY3JldCE="
	require.NoError(t, core.SaveDeviceInfo(filepath.Join(dir, "device_info.json"), info))
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
}
