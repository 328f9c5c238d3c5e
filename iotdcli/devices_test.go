package iotdcli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/localapi"
)

// A daemon of three devices, driven through the command line: --device
// (or IOTD_DEVICE) picks the device, status shows each, and a command
// without one says how to pick.
func TestCLISeveralDevices(t *testing.T) {
	hub := startHub(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "iotd.sock")
	y := "socket: " + sock + "\ndevices:\n"
	for _, name := range []string{"a", "b", "c"} {
		_, err := hub.CreateDevice("PCLIMULTI1", "dev-"+name, false)
		require.NoError(t, err)
		sub := filepath.Join(dir, name)
		require.NoError(t, os.Mkdir(sub, 0o700))
		_, err = hub.WriteDeviceInfo("PCLIMULTI1", "dev-"+name, sub)
		require.NoError(t, err)
		y += fmt.Sprintf(`  %s:
    device_info: %s/device_info.json
    link:
      driver: tls
      endpoint: %s
      backoff: {initial: 50ms, max: 500ms}
      driver_config: {ca_file: %s}
`, name, name, hub.TLSAddr(), hub.CAFile())
	}
	path := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(path, []byte(y), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// run --check prints each device.
	var out syncBuf
	require.NoError(t, runCLI(ctx, &out, "run", "--check", "--config", path))
	assert.Contains(t, out.String(), "configuration is valid: 3 devices")
	for _, name := range []string{"a", "b", "c"} {
		assert.Contains(t, out.String(), fmt.Sprintf("\ndevice %s: %s is valid (device PCLIMULTI1dev-%s)\n", name, filepath.Join(dir, name, "device_info.json"), name))
	}

	startDaemonAt(t, path)
	client := localapi.New(sock)
	for _, name := range []string{"a", "b", "c"} {
		require.Eventually(t, func() bool {
			st, err := client.ForDevice(name).Status(ctx)
			return err == nil && st.Link.State == localapi.LinkConnected
		}, 20*time.Second, 20*time.Millisecond, "device %s connects", name)
	}

	// --device b publishes as b only.
	out = syncBuf{}
	require.NoError(t, runCLI(ctx, &out, "--socket", sock, "--device", "b", "pub", "event", "hello from b"))
	assert.Contains(t, out.String(), "PCLIMULTI1/dev-b/event")
	got := func(dn, payload string) bool {
		return slices.ContainsFunc(hub.Messages("PCLIMULTI1", dn), func(m hubsim.Record) bool { return m.Payload == payload && !m.Denied })
	}
	require.Eventually(t, func() bool { return got("dev-b", "hello from b") }, 10*time.Second, 20*time.Millisecond)
	assert.False(t, got("dev-a", "hello from b"))
	assert.False(t, got("dev-c", "hello from b"))

	// IOTD_DEVICE picks one too; --device wins over it.
	t.Setenv("IOTD_DEVICE", "c")
	out = syncBuf{}
	require.NoError(t, runCLI(ctx, &out, "--socket", sock, "pub", "event", "hello from c"))
	assert.Contains(t, out.String(), "PCLIMULTI1/dev-c/event")
	out = syncBuf{}
	require.NoError(t, runCLI(ctx, &out, "--socket", sock, "--device", "a", "pub", "event", "hello from a"))
	assert.Contains(t, out.String(), "PCLIMULTI1/dev-a/event")
	require.NoError(t, os.Unsetenv("IOTD_DEVICE"))

	// Without a device, a command says how to pick one.
	out = syncBuf{}
	err := runCLI(ctx, &out, "--socket", sock, "pub", "event", "whose?")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "runs 3 devices (a, b, c): pick one with --device NAME")

	// status shows each device; --device one.
	out = syncBuf{}
	require.NoError(t, runCLI(ctx, &out, "--socket", sock, "status"))
	for _, name := range []string{"a", "b", "c"} {
		assert.Contains(t, out.String(), fmt.Sprintf("== %s (iotd --device %s status)\n", name, name))
		assert.Contains(t, out.String(), "PCLIMULTI1/dev-"+name)
	}
	out = syncBuf{}
	require.NoError(t, runCLI(ctx, &out, "--socket", sock, "--device", "b", "status"))
	assert.Contains(t, out.String(), "PCLIMULTI1/dev-b")
	assert.NotContains(t, out.String(), "dev-a")
	out = syncBuf{}
	require.NoError(t, runCLI(ctx, &out, "--socket", sock, "status", "--json"))
	assert.Contains(t, out.String(), `"b": {`)
}
