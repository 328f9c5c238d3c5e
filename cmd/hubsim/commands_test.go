package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/hubsim"
)

// unreachable is an admin address where nothing listens.
const unreachable = "127.0.0.1:1"

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func startHub(t *testing.T, state string) *hubsim.Hub {
	t.Helper()
	h, err := hubsim.Start(context.Background(), hubsim.Config{StateDir: state,
		TLSAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func TestDeviceCreateOffline(t *testing.T) {
	state, outDir := t.TempDir(), t.TempDir()
	tests := []struct {
		name, dev string
		extra     []string
		mode      string
	}{
		{"key device", "k1", nil, core.AuthKey},
		{"cert device", "c1", []string{"--cert"}, core.AuthCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(outDir, tt.dev, "device_info.json")
			args := append([]string{"device", "create", "PCLI000001", tt.dev, "--out", out,
				"--state", state, "--admin", unreachable}, tt.extra...)
			stdout, err := run(t, args...)
			require.NoError(t, err)
			assert.Contains(t, stdout, "offline in "+state)

			info, err := core.LoadDeviceInfo(out)
			require.NoError(t, err)
			assert.Equal(t, tt.mode, info.AuthMode)
			assert.Equal(t, "PCLI000001"+tt.dev, info.ClientID())
		})
	}

	// A hub started on the same state knows the devices.
	h := startHub(t, state)
	_, err := h.Store().Device("PCLI000001", "c1")
	require.NoError(t, err)

	t.Run("refused while a hub holds the state", func(t *testing.T) {
		_, err := run(t, "device", "create", "PCLI000001", "k2", "--out", filepath.Join(outDir, "x.json"),
			"--state", state, "--admin", unreachable)
		require.ErrorIs(t, err, hubsim.ErrStateLocked)
		assert.ErrorContains(t, err, "no hubsim answers at "+unreachable)
	})
}

func TestCommandsThroughAdminAPI(t *testing.T) {
	h := startHub(t, t.TempDir())
	admin := h.AdminURL()
	out := filepath.Join(t.TempDir(), "device_info.json")

	stdout, err := run(t, "device", "create", "PCLI000002", "dev", "--cert", "--out", out, "--admin", admin)
	require.NoError(t, err)
	assert.Contains(t, stdout, "via "+admin)
	info, err := core.LoadDeviceInfo(out)
	require.NoError(t, err)
	assert.Equal(t, core.AuthCert, info.AuthMode)
	assert.FileExists(t, info.CAFile())

	_, err = run(t, "product", "create", "PCLI000003", "--admin", admin)
	require.NoError(t, err)
	stdout, err = run(t, "product", "list", "--admin", admin)
	require.NoError(t, err)
	assert.Equal(t, "PCLI000002\nPCLI000003\n", stdout)

	stdout, err = run(t, "device", "list", "--admin", admin)
	require.NoError(t, err)
	assert.Contains(t, stdout, "PCLI000002/dev")
	assert.Contains(t, stdout, "CERT")

	stdout, err = run(t, "pub", "PCLI000002/dev", "control", `{"on":true}`, "--admin", admin)
	require.NoError(t, err)
	assert.Contains(t, stdout, "on PCLI000002/dev/control")
	stdout, err = run(t, "messages", "PCLI000002/dev", "--admin", admin)
	require.NoError(t, err)
	assert.Contains(t, stdout, `down q0 PCLI000002/dev/control {"on":true}`)

	stdout, err = run(t, "device", "show", "PCLI000002/dev", "--admin", admin)
	require.NoError(t, err)
	assert.Contains(t, stdout, "client id:     PCLI000002dev")

	_, err = run(t, "pub", "nodevice", "control", "x", "--admin", admin)
	assert.ErrorContains(t, err, "PRODUCT/DEVICE")
	_, err = run(t, "device", "list", "--admin", unreachable)
	assert.ErrorIs(t, err, hubsim.ErrUnreachable)
	_, err = run(t, "device", "create", "P", "d", "--admin", admin)
	assert.ErrorContains(t, err, `"out" not set`)
}
