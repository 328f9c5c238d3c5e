package hubtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/hubsim"
)

// What the tests of a whole device (package device) and of the daemon
// share: the device's files, the drivers hubsim's listeners take, the link
// section that reaches it, a Run that waits until the device is ready.

// DeviceDir creates device pid/dn in hub (a certificate device when cert)
// and writes its device_info.json, and its certificate files, into a new
// directory, returned.
func DeviceDir(t testing.TB, hub *hubsim.Hub, pid, dn string, cert bool) string {
	t.Helper()
	_, err := hub.CreateDevice(pid, dn, cert)
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = hub.WriteDeviceInfo(pid, dn, dir)
	require.NoError(t, err)
	return dir
}

// Registry returns a registry of the posix tcp and tls drivers.
func Registry(t testing.TB) *core.Registry {
	t.Helper()
	r := core.NewRegistry()
	require.NoError(t, r.Register(posix.NewTCP()))
	require.NoError(t, r.Register(posix.NewTLS()))
	return r
}

// LinkYAML is the link section of an iotd configuration that reaches
// endpoint over TLS verifying caFile (a hubsim's CAFile), with a short dial
// timeout and backoff.
func LinkYAML(endpoint, caFile string) string {
	return fmt.Sprintf(`link:
  driver: tls
  endpoint: %s
  dial_timeout: 5s
  backoff: {initial: 50ms, max: 500ms}
  driver_config:
    ca_file: %s
`, endpoint, caFile)
}

// WriteConfig writes yaml to iotd.yaml in dir and returns its path.
func WriteConfig(t testing.TB, dir, yaml string) string {
	t.Helper()
	p := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(p, []byte(yaml), 0o600))
	return p
}

// RunReady is [Run] for a device's or a daemon's Run: it returns once
// ready is closed, and fails the test if run returns first.
func RunReady(t testing.TB, run func(context.Context) error, ready <-chan struct{}) (stop func()) {
	t.Helper()
	early := make(chan error, 1)
	stop = Run(t, func(ctx context.Context) error {
		err := run(ctx)
		if ctx.Err() == nil {
			early <- err
		}
		return err
	})
	select {
	case <-ready:
	case err := <-early:
		t.Fatalf("hubtest: Run returned before it was ready: %v", err)
	}
	return stop
}
