package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
