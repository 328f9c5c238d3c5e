package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

func TestOTACommands(t *testing.T) {
	hub := hubtest.StartHub(t, nil)
	d := hubtest.Connect(t, hub, "PCLIOTA001", "dev")
	_, err := hub.CreateDevice("PCLIOTA001", "offline", false)
	require.NoError(t, err)
	admin := "--admin=" + strings.TrimPrefix(hub.AdminURL(), "http://")
	fw := filepath.Join(t.TempDir(), "fw.bin")
	require.NoError(t, os.WriteFile(fw, []byte("new firmware"), 0o600))

	out, err := run(t, "ota", "push", "PCLIOTA001/dev", fw, "--version", "1.1.0", admin)
	require.NoError(t, err, out)
	assert.Contains(t, out, "pushed 1.1.0 (12 bytes")
	assert.Contains(t, out, "https://")

	report := `{"type":"report_progress","report":{"progress":{"state":"fail","result_code":"-4","result_msg":"MD5 mismatch"},"version":"1.1.0"}}`
	require.NoError(t, d.Bus.CloudPublish(context.Background(), "$ota/report/PCLIOTA001/dev", []byte(report), 1))
	require.NoError(t, d.Bus.CloudPublish(context.Background(), "$ota/report/PCLIOTA001/dev",
		[]byte(`{"type":"report_version","report":{"version":"1.0.0"}}`), 1))
	ref := hubsim.DeviceRef{ProductID: "PCLIOTA001", DeviceName: "dev"}
	require.Eventually(t, func() bool { return hub.OTA().DeviceStatus(ref).Version == "1.0.0" }, 10*time.Second, 10*time.Millisecond)
	out, err = run(t, "ota", "status", "PCLIOTA001/dev", admin)
	require.NoError(t, err, out)
	assert.Contains(t, out, "version:  1.0.0")
	assert.Contains(t, out, "target:   1.1.0")
	assert.Contains(t, out, "state:    fail")
	assert.Contains(t, out, "result:   -4 MD5 mismatch")

	out, err = run(t, "ota", "info", admin)
	require.NoError(t, err, out)
	var info hubsim.OTAInfo
	require.NoError(t, json.Unmarshal([]byte(out), &info))
	require.Len(t, info.Firmware, 1)
	assert.Equal(t, "1.1.0", info.Firmware[0].Version)

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no version", []string{"ota", "push", "PCLIOTA001/dev", fw, admin}, "--version is required"},
		{"no file", []string{"ota", "push", "PCLIOTA001/dev", "/nonexistent", "--version", "2", admin}, "no such file"},
		{"offline", []string{"ota", "push", "PCLIOTA001/offline", fw, "--version", "2", admin}, "offline"},
		{"unknown device", []string{"ota", "status", "PCLIOTA001/nope", admin}, "not found"},
		{"bad device", []string{"ota", "status", "nodevice", admin}, "PRODUCT/DEVICE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, tt.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}
