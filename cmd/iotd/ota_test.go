package main

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/features/ota"
	"github.com/iotd/iotd/hubsim"
)

// readBuffer is what one interruption may cost in bytes fetched twice: the
// checkpoint interval (bytes received but not yet fsynced and checkpointed
// when the process dies) plus what the transport had buffered or in flight
// (TLS record, bufio, the socket; the server writes 8 KiB pieces at a
// limited rate, so little is in flight).
const readBuffer = ota.DefaultCheckpointEvery + 64<<10

// iotd is killed with SIGKILL at three random points of an 8 MiB download
// and restarted each time: the update completes from the checkpoints, with
// at most one read buffer fetched twice per interruption, the MD5 matches
// and the install hook runs exactly once.
func TestOTASurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds iotd and downloads 8 MiB several times")
	}
	bin := buildIotd(t)
	hub := startHub(t)
	const pid, dn = "POTAKILL01", "dev1"
	_, err := hub.CreateDevice(pid, dn, false)
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = hub.WriteDeviceInfo(pid, dn, dir)
	require.NoError(t, err)
	hookLog := filepath.Join(dir, "installed.log")
	hook := filepath.Join(dir, "install.sh")
	require.NoError(t, os.WriteFile(hook, []byte("#!/bin/sh\necho \"$2 $(md5sum < \"$1\" | cut -d' ' -f1)\" >> "+hookLog+"\n"), 0o700))
	cfg := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`device_info: device_info.json
socket: %s
state_dir: state
link:
  endpoint: %s
  backoff: {initial: 50ms, max: 500ms}
  driver_config:
    ca_file: %s
features:
  ota:
    version: 1.0.0
    ca_file: %s
    hook:
      command: [%q]
`, filepath.Join(dir, "iotd.sock"), hub.TLSAddr(), hub.CAFile(), hub.CAFile(), hook)), 0o600))

	const size = 8 << 20
	data := make([]byte, size)
	_, err = rand.Read(data)
	require.NoError(t, err)
	sum := md5.Sum(data)
	// 4 MiB/s: long enough to kill it three times, short enough for a test.
	require.NoError(t, hub.OTA().SetFaults(hubsim.OTAFaults{Rate: 4 << 20}))

	logFile, err := os.Create(filepath.Join(dir, "iotd.log"))
	require.NoError(t, err)
	defer logFile.Close()
	logs := func() string { b, _ := os.ReadFile(logFile.Name()); return string(b) }
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--config", cfg)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		require.NoError(t, cmd.Start())
		return cmd
	}
	ref := hubsim.DeviceRef{ProductID: pid, DeviceName: dn}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; hub: %+v\niotd log:\n%s", what, hub.OTA().DeviceStatus(ref), logs())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	cmd := start()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	wait("the version report", func() bool { return hub.OTA().DeviceStatus(ref).Version == "1.0.0" })
	fw, err := hub.OTA().Upload("", "1.1.0", data)
	require.NoError(t, err)
	_, err = hub.OTA().Push(ref, hubsim.OTAPushRequest{Firmware: fw.Name})
	require.NoError(t, err)

	// Three kill points, at least 1 MiB apart, between 10% and 85%.
	var points []int64
	for len(points) < 3 {
		p := int64(size/10 + mrand.IntN(size*75/100))
		if !slices.ContainsFunc(points, func(q int64) bool { return q-p < 1<<20 && p-q < 1<<20 }) {
			points = append(points, p)
		}
	}
	slices.Sort(points)
	for i, p := range points {
		wait(fmt.Sprintf("kill point %d (%d bytes served)", i+1, p), func() bool { return hub.OTA().BytesServed() >= p })
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		t.Logf("killed at %d bytes served (point %d)", hub.OTA().BytesServed(), p)
		cmd = start()
	}
	wait("the new version", func() bool { return hub.OTA().DeviceStatus(ref).Version == "1.1.0" })

	served := hub.OTA().BytesServed()
	t.Logf("served %d bytes for a %d-byte file in %d requests", served, size, len(hub.OTA().Info().Requests))
	assert.LessOrEqual(t, served, int64(size+3*readBuffer), "at most one read buffer fetched twice per interruption")
	assert.GreaterOrEqual(t, len(hub.OTA().Info().Requests), 4, "one request per run")
	installed, err := os.ReadFile(hookLog)
	require.NoError(t, err)
	assert.Equal(t, "1.1.0 "+hex.EncodeToString(sum[:])+"\n", string(installed), "the hook ran exactly once, on the right bytes")
	st := hub.OTA().DeviceStatus(ref)
	assert.Equal(t, "done", st.State)
	var percents []string
	for _, r := range st.Reports {
		if r.State == "downloading" {
			percents = append(percents, r.Percent)
		}
	}
	require.NotEmpty(t, percents)
	assert.Equal(t, "0", percents[0])
	assert.Equal(t, "100", percents[len(percents)-1])
	assert.False(t, strings.Contains(logs(), "panic"), logs())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "ota", "status", "--socket", filepath.Join(dir, "iotd.sock")).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "version:  1.1.0\nstate:    done\n")
	assert.Contains(t, string(out), "progress: 100% (8.0 MiB of 8.0 MiB)")
	// Not a terminal: --watch prints a line per change and ends with the update.
	out, err = exec.CommandContext(ctx, bin, "ota", "status", "--watch", "--target", "1.1.0", "--socket", filepath.Join(dir, "iotd.sock")).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "1.1.0 installed; version is now 1.1.0\n", string(out))
}
