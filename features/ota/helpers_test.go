package ota

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

// transport returns an HTTP transport whose connections go through the
// posix tcp driver and that trusts the hub's CA.
func transport(t testing.TB, hub *hubsim.Hub) *http.Transport {
	t.Helper()
	pem, err := os.ReadFile(hub.CAFile())
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	reg := core.NewRegistry()
	require.NoError(t, reg.Register(posix.NewTCP()))
	tr, err := reg.HTTPTransport("tcp", nil, &tls.Config{RootCAs: pool})
	require.NoError(t, err)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func randomFile(t testing.TB, n int) ([]byte, string) {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	sum := md5.Sum(b)
	return b, hex.EncodeToString(sum[:])
}

// rig is a device running the OTA feature against a hubsim.
type rig struct {
	hub  *hubsim.Hub
	dev  *hubtest.Device
	ota  *OTA
	dir  string
	pid  string
	dn   string
	stop func()
}

func startRig(t *testing.T, pid string, cfg Config) *rig {
	t.Helper()
	hub := hubtest.StartHub(t, nil)
	return startRigOn(t, hub, pid, cfg)
}

func startRigOn(t *testing.T, hub *hubsim.Hub, pid string, cfg Config) *rig {
	t.Helper()
	dev := hubtest.Connect(t, hub, pid, "dev1")
	dir := t.TempDir()
	if cfg.StallTimeout == 0 {
		cfg.StallTimeout = 5 * time.Second
	}
	o, err := New(cfg, dev.Bus, pid, "dev1", Env{StateDir: dir, Transport: transport(t, hub)}, nil)
	require.NoError(t, err)
	r := &rig{hub: hub, dev: dev, ota: o, dir: dir, pid: pid, dn: "dev1"}
	r.stop = hubtest.Run(t, o.Run)
	r.waitHub(t, "version report", func(s hubsim.OTADeviceStatus) bool { return s.Version != "" })
	return r
}

func (r *rig) ref() hubsim.DeviceRef { return hubsim.DeviceRef{ProductID: r.pid, DeviceName: r.dn} }

// waitHub polls the hub's view of the device until cond holds.
func (r *rig) waitHub(t *testing.T, what string, cond func(hubsim.OTADeviceStatus) bool) hubsim.OTADeviceStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := r.hub.OTA().DeviceStatus(r.ref())
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; hub sees %+v; device status %+v", what, s, r.ota.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// push uploads data as version and pushes it, with overrides from req.
func (r *rig) push(t *testing.T, version string, data []byte, req hubsim.OTAPushRequest) hubsim.OTAUpdate {
	t.Helper()
	fw, err := r.hub.OTA().Upload("", version, data)
	require.NoError(t, err)
	req.Firmware = fw.Name
	u, err := r.hub.OTA().Push(r.ref(), req)
	require.NoError(t, err)
	return u
}

// hookScript writes a hook that appends "FILE VERSION md5" to log and exits
// with code.
func hookScript(t *testing.T, code int) (cmd []string, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "hook.log")
	p := filepath.Join(dir, "install.sh")
	body := "#!/bin/sh\nprintf '%s %s %s %s\\n' \"$1\" \"$2\" \"$IOTD_FIRMWARE_VERSION\" \"$(md5sum < \"$IOTD_FIRMWARE_FILE\" | cut -d' ' -f1)\" >> " + log + "\nexit " + itoa(code) + "\n"
	require.NoError(t, os.WriteFile(p, []byte(body), 0o700))
	return []string{p}, log
}

func itoa(n int) string { return string(rune('0' + n)) }

func hubtestHub(t *testing.T) *hubsim.Hub { return hubtest.StartHub(t, nil) }

// runFeature runs o until the returned stop is called.
func runFeature(t *testing.T, o *OTA) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("ota: Run did not return within 10s of cancel")
		}
	}
}
