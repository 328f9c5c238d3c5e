package daemon

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/features/ota"
	"github.com/iotd/iotd/hubsim"
)

// A pushed firmware is downloaded through the configured driver over
// HTTPS (verified with features.ota.ca_file), installed by the hook, and
// the new version is reported; the local API shows the state.
func TestOTAThroughDaemon(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "POTAD00001", "dev1", false)
	hookLog := filepath.Join(dir, "hook.log")
	r := startDaemon(t, configFor(t, hub, dir, fmt.Sprintf(`state_dir: state
features:
  ota:
    version: 1.0.0
    ca_file: %s
    hook:
      command: ["/bin/sh", "-c", "echo \"$IOTD_FIRMWARE_VERSION $0 $1\" >> %s"]
`, hub.CAFile(), hookLog)))
	ref := hubsim.DeviceRef{ProductID: "POTAD00001", DeviceName: "dev1"}
	require.Eventually(t, func() bool { return hub.OTA().DeviceStatus(ref).Version == "1.0.0" }, 20*time.Second, 20*time.Millisecond)

	data := make([]byte, 1<<20)
	_, err := rand.Read(data)
	require.NoError(t, err)
	fw, err := hub.OTA().Upload("", "1.1.0", data)
	require.NoError(t, err)
	_, err = hub.OTA().Push(ref, hubsim.OTAPushRequest{Firmware: fw.Name})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return hub.OTA().DeviceStatus(ref).Version == "1.1.0" }, 20*time.Second, 20*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.client.OTA(ctx)
	require.NoError(t, err)
	assert.Equal(t, "1.1.0", st.Version)
	assert.Equal(t, ota.StateDone, st.State)
	assert.Equal(t, 100, st.Percent)
	assert.Equal(t, int64(len(data)), st.Bytes)
	full, err := r.client.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "1.1.0", full.Features.OTA.Version)

	log, err := os.ReadFile(hookLog)
	require.NoError(t, err)
	part := filepath.Join(dir, "state", "ota", "firmware-1.1.0.part")
	assert.Equal(t, "1.1.0 "+part+" 1.1.0\n", string(log))
	v, err := os.ReadFile(filepath.Join(dir, "state", "ota", "version"))
	require.NoError(t, err)
	assert.Equal(t, "1.1.0", strings.TrimSpace(string(v)))
	sum := md5.Sum(data)
	assert.Equal(t, hex.EncodeToString(sum[:]), fw.MD5)
}

func TestOTAConfigErrors(t *testing.T) {
	hub := startHub(t, nil)
	tests := []struct {
		name  string
		extra string
		want  string
	}{
		{"missing ca file", "features:\n  ota:\n    ca_file: /nonexistent/ca.pem\n", "features.ota.ca_file"},
		{"unknown driver", "features:\n  ota:\n    http_driver: nope\n", "features.ota.http_driver"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := deviceDir(t, hub, fmt.Sprintf("POTACFG00%d", i), "dev1", false)
			_, err := New(configFor(t, hub, dir, tt.extra), testRegistry(t), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := ParseConfig([]byte("features:\n  ota:\n    version: \"a b\"\n"), "x.yaml", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "features.ota")
}
