package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
)

// buildIotd compiles this command once per test binary run.
func buildIotd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "iotd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

func startHub(t *testing.T) *hubsim.Hub {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hub, err := hubsim.Start(ctx, hubsim.Config{
		StateDir: t.TempDir(), TLSAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hub.Close() })
	return hub
}

// The binary's contract for bad input: a non-zero exit and one line on
// stderr that names the cause; nothing on disk rewritten.
func TestBadInputExitsWithOneLine(t *testing.T) {
	bin := buildIotd(t)
	hub := startHub(t)
	_, err := hub.CreateDevice("PCLI000001", "dev1", false)
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = hub.WriteDeviceInfo("PCLI000001", "dev1", dir)
	require.NoError(t, err)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	good := "device_info: device_info.json\nlink:\n  endpoint: " + hub.TLSAddr() + "\n  driver_config:\n    ca_file: " + hub.CAFile() + "\n"
	deviceInfo, err := os.ReadFile(filepath.Join(dir, "device_info.json"))
	require.NoError(t, err)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no config flag", []string{"run"}, "--config is required"},
		{"missing file", []string{"run", "--config", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"unknown key", []string{"run", "--config", write("typo.yaml", good+"mqtt:\n  keep_alive: 60s\n")}, `unknown key "keep_alive"`},
		{"unknown driver", []string{"run", "--config", write("drv.yaml", "link:\n  driver: pigeon\n")}, `unknown driver "pigeon"`},
		{"unreachable host", []string{"run", "--check", "--connect", "--config", write("unreach.yaml", "link:\n  endpoint: nonexistent.invalid:8883\n  dial_timeout: 3s\n")}, "nonexistent.invalid"},
		{"untrusted certificate", []string{"run", "--check", "--connect", "--config", write("untrusted.yaml", "link:\n  endpoint: "+hub.TLSAddr()+"\n")}, "certificate"},
		{"daemon not running", []string{"status", "--socket", filepath.Join(dir, "none.sock")}, "iotd is not running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tt.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "want a non-zero exit, got %v", err)
			assert.NotEqual(t, 0, exit.ExitCode())
			msg := strings.TrimSpace(stderr.String())
			lines := strings.Split(msg, "\n")
			last := lines[len(lines)-1]
			assert.True(t, strings.HasPrefix(last, "iotd: "), "stderr: %s", msg)
			assert.Contains(t, last, tt.want)
		})
	}
	after, err := os.ReadFile(filepath.Join(dir, "device_info.json"))
	require.NoError(t, err)
	assert.Equal(t, deviceInfo, after)

	// And the good configuration connects.
	out, err := exec.Command(bin, "run", "--check", "--connect", "--config", write("good.yaml", good)).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "connected: the hub accepted the device")
}
