//go:build !iotd_omit_plugins

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The daemon reaches the hub through a driver served by an out-of-tree
// plugin binary (the example vendor module), named in link.driver like a
// built-in; a wrong pin refuses the plugin before anything runs.
func TestRunThroughPluginDriver(t *testing.T) {
	bin := buildIotd(t)
	hub := startHub(t)
	_, err := hub.CreateDevice("PPLUG00001", "dev1", false)
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = hub.WriteDeviceInfo("PPLUG00001", "dev1", dir)
	require.NoError(t, err)

	plugDir := filepath.Join(dir, "plugins")
	require.NoError(t, os.Mkdir(plugDir, 0o755))
	plugin := filepath.Join(plugDir, "iotd-driver-example")
	build := exec.Command("go", "build", "-o", plugin, ".")
	build.Dir = filepath.Join("..", "..", "plugins", "example")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	data, err := os.ReadFile(plugin)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	pin := hex.EncodeToString(sum[:])

	config := func(name, pinLine string) string {
		p := filepath.Join(dir, name)
		body := "device_info: device_info.json\nsocket: iotd.sock\n" +
			"plugins:\n  dir: plugins\n  require_pins: true\n  pins:\n    iotd-driver-example: \"" + pinLine + "\"\n" +
			"link:\n  driver: example.tcp\n  endpoint: " + hub.TCPAddr() + "\n  dial_timeout: 10s\n"
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	run := func(cfg string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "run", "--check", "--connect", "--config", cfg)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	stdout, stderr, err := run(config("good.yaml", pin))
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "connected: the hub accepted the device")
	assert.Contains(t, stderr, "plugin loaded")

	wrong := hex.EncodeToString(make([]byte, 32))
	_, stderr, err = run(config("wrongpin.yaml", wrong))
	require.Error(t, err)
	assert.Contains(t, stderr, pin, "the error names the binary's real hash")
	assert.Contains(t, stderr, wrong, "and the pinned one")
}
