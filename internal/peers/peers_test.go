package peers

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A missing peer skips the test and records it; `make test`'s summary
// names the tests and one install command for all the packages.
func TestMissingPeerIsRecordedAndSummarised(t *testing.T) {
	log := filepath.Join(t.TempDir(), "skipped")
	t.Setenv(LogEnv, log)
	t.Setenv("CI", "")
	ghost := Peer{Program: "iotd-no-such-broker", Package: "ghost-broker"}
	ran := false
	for _, name := range []string{"TestA", "TestB"} {
		t.Run(name, func(t *testing.T) {
			Need(t, ghost)
			ran = true
		})
	}
	t.Run("TestC", func(t *testing.T) { Need(t, Peer{Program: "iotd-no-such-coap", Package: "ghost-coap"}) })
	t.Run("TestD", func(t *testing.T) { Missing(t, "cannot mount a tmpfs here", "run the tests as root") })
	assert.False(t, ran, "the test stops at Need")

	data, err := os.ReadFile(log)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, "TestMissingPeerIsRecordedAndSummarised/TestA\tiotd-no-such-broker is not installed\tapt-get install -y ghost-broker", lines[0])

	out, err := exec.Command("../../scripts/skipped-summary.sh", log).CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := string(out)
	assert.Contains(t, s, "== 4 test(s) skipped")
	assert.Contains(t, s, "iotd-no-such-broker is not installed: 2 (TestMissingPeerIsRecordedAndSummarised/TestA, TestMissingPeerIsRecordedAndSummarised/TestB)")
	assert.Contains(t, s, "sudo apt-get install -y ghost-broker ghost-coap")
	assert.Contains(t, s, "Also: run the tests as root")

	empty, err := exec.Command("../../scripts/skipped-summary.sh", filepath.Join(t.TempDir(), "none")).CombinedOutput()
	require.NoError(t, err)
	assert.Empty(t, string(empty), "silent when nothing was skipped")
}

// Under CI=true a missing peer fails the test: CI must install it.
func TestMissingPeerFailsUnderCI(t *testing.T) {
	if os.Getenv("IOTD_PEERS_CHILD") == "1" {
		Need(t, Peer{Program: "iotd-no-such-broker", Package: "ghost-broker"})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestMissingPeerFailsUnderCI$")
	cmd.Env = append(os.Environ(), "IOTD_PEERS_CHILD=1", "CI=true")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "%s", out)
	assert.Contains(t, string(out), "iotd-no-such-broker is not installed (CI=true, where it must be there): apt-get install -y ghost-broker")
}

func TestFindsInstalledPeer(t *testing.T) {
	sh := Need(t, Peer{Program: "sh", Package: "dash"})
	assert.True(t, filepath.IsAbs(sh), sh)
}
