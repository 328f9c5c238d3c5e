package main

import (
	"encoding/json"
	"fmt"
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

	"github.com/iotd/iotd/localapi"
)

// `iotd sub` holds its filter while it runs; `iotd unsub` drops one at once.
func TestSubAndUnsub(t *testing.T) {
	bin := buildIotd(t)
	hub := startHub(t)
	const pid, dn = "PCLIUNSUB1", "dev1"
	_, err := hub.CreateDevice(pid, dn, false)
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = hub.WriteDeviceInfo(pid, dn, dir)
	require.NoError(t, err)
	sock := filepath.Join(dir, "iotd.sock")
	cfg := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`device_info: device_info.json
socket: %s
link:
  endpoint: %s
  backoff: {initial: 50ms, max: 500ms}
  driver_config:
    ca_file: %s
`, sock, hub.TLSAddr(), hub.CAFile())), 0o600))

	logFile, err := os.Create(filepath.Join(dir, "iotd.log"))
	require.NoError(t, err)
	defer logFile.Close()
	logs := func() string { b, _ := os.ReadFile(logFile.Name()); return string(b) }
	run := exec.Command(bin, "run", "--config", cfg)
	run.Stdout, run.Stderr = logFile, logFile
	require.NoError(t, run.Start())
	t.Cleanup(func() {
		_ = run.Process.Signal(syscall.SIGTERM)
		_ = run.Wait()
	})
	iotd := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(args, "--socket", sock)...).CombinedOutput()
		require.NoError(t, err, "iotd %s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	subscriptions := func() []string {
		out, err := exec.Command(bin, "status", "--json", "--socket", sock).Output()
		if err != nil {
			return nil
		}
		var st localapi.Status
		if json.Unmarshal(out, &st) != nil {
			return nil
		}
		return st.Subscriptions
	}
	wait := func(what string, cond func([]string) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			subs := subscriptions()
			if subs != nil && cond(subs) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; subscriptions %v\niotd log:\n%s", what, subs, logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	has := func(f string) func([]string) bool { return func(s []string) bool { return slices.Contains(s, f) } }
	hasNot := func(f string) func([]string) bool { return func(s []string) bool { return !slices.Contains(s, f) } }
	sub := func(filter string) *exec.Cmd {
		t.Helper()
		c := exec.Command(bin, "sub", filter, "--socket", sock)
		require.NoError(t, c.Start())
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
		return c
	}
	wait("the daemon", func(s []string) bool { return len(s) > 0 })

	// The filter of an `iotd sub` goes when it ends.
	control := pid + "/" + dn + "/control"
	c := sub("control")
	wait("iotd sub's filter", has(control))
	require.NoError(t, c.Process.Signal(os.Interrupt))
	_ = c.Wait()
	wait("the filter to go with iotd sub", hasNot(control))

	// `iotd unsub` drops one while its `iotd sub` runs on.
	data := pid + "/" + dn + "/data"
	c = sub("data")
	wait("iotd sub's filter", has(data))
	out := iotd("unsub", "data")
	assert.Equal(t, "unsubscribed from "+data+"\n1 local subscriber(s) still hold it and receive nothing more for it until it is subscribed again\n", out)
	assert.NotContains(t, subscriptions(), data)
	assert.Nil(t, c.ProcessState, "iotd sub still runs")
	assert.Equal(t, "not subscribed to "+data+"; nothing to drop\n", iotd("unsub", "data"))

	// A filter of another device is refused before the hub sees it.
	o, err := exec.Command(bin, "unsub", "POTHER0001/dev1/data", "--socket", sock).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(o), "does not belong to this device")

	help, err := exec.Command(bin, "--help").Output()
	require.NoError(t, err)
	assert.Contains(t, string(help), "iotd unsub FILTER")
	help, err = exec.Command(bin, "unsub", "--help").Output()
	require.NoError(t, err)
	assert.Contains(t, string(help), "When the last 'iotd sub' on a filter ends")
}
