package iotdcli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
)

// The cobra wrapper hands its raw arguments to conformance/cli and turns
// the verdict into the exit status (0 returns normally).
func TestConformanceCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"list", []string{"--list"}, 0, "PeerResetIsErrReset"},
		{"certify tcp", []string{"--driver", "tcp", "--run", "^S01$"}, 0, "S01 ConnectEcho ... PASS"},
		{"usage error", []string{"--driver"}, 2, ""},
		{"unknown driver", []string{"--driver", "pigeon"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := 0
			exit = func(c int) { code = c }
			t.Cleanup(func() { exit = os.Exit })
			var out, errw bytes.Buffer
			cmd := conformanceCmd()
			cmd.SetArgs(tt.args)
			cmd.SetOut(&out)
			cmd.SetErr(&errw)
			require.NoError(t, cmd.ExecuteContext(t.Context()))
			assert.Equal(t, tt.code, code, "stdout:\n%s\nstderr:\n%s", out.String(), errw.String())
			assert.Contains(t, out.String(), tt.out)
		})
	}
}

// --plugin launches a real plugin binary through the plugin host; the
// lifecycle cases run against its process.
func TestConformanceCommandPlugin(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "iotd-driver-test")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/iotd/iotd/plugins/internal/testplugin").CombinedOutput()
	require.NoError(t, err, string(out))
	code := 0
	exit = func(c int) { code = c }
	t.Cleanup(func() { exit = os.Exit })
	var stdout, stderr bytes.Buffer
	cmd := conformanceCmd()
	cert := filepath.Join(t.TempDir(), "cert.json")
	cmd.SetArgs([]string{"--plugin", bin, "--driver", "tcp", "--json", cert})
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	require.NoError(t, cmd.ExecuteContext(t.Context()))
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	for _, line := range []string{"P01 KillFailsConn ... PASS", "P02 DialAfterRestart ... PASS", ": CERTIFIED"} {
		assert.Contains(t, stdout.String(), line)
	}
	b, err := os.ReadFile(cert)
	require.NoError(t, err)
	var rep conformance.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	sum, err := os.ReadFile(bin)
	require.NoError(t, err)
	want := sha256.Sum256(sum)
	assert.Equal(t, hex.EncodeToString(want[:]), rep.BinarySHA256)
	assert.Contains(t, rep.Capabilities, "hook:lifecycle")
}
