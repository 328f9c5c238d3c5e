package sim800_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/modules/sim800"
)

// `iotd-sim800 conformance` certifies the compiled-in driver and the
// plugin binary, as a lab would. The CLI takes no known failures, so the
// full run's certificate must fail nothing but the module's known limits
// (exit status 1 then), and a run of every other case exits 0.
func TestConformanceCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite over a simulated modem takes a while")
	}
	bins := buildBinaries(t)
	known := modem.ConformanceLimits(sim800.Name)
	var others []string
	for _, c := range conformance.Cases() {
		if _, ok := known[c.ID]; !ok {
			others = append(others, c.ID)
		}
	}
	for _, row := range []struct {
		name string
		args []string
	}{
		{"compiled-in", []string{"--driver", "at.sim800"}},
		{"plugin", []string{"--plugin", bins.plugin, "--driver", "at.sim800"}},
	} {
		t.Run(row.name, func(t *testing.T) {
			sim := startSim(t, atsim.Config{})
			cert := filepath.Join(t.TempDir(), "cert.json")
			run := func(extra ...string) int {
				args := append([]string{"conformance", "--config", string(configJSON(t, sim)),
					"--capabilities", "max_payload,signal", "--time-scale", "3"}, row.args...)
				cmd := exec.Command(bins.iotd, append(args, extra...)...)
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Logf("iotd-sim800 %s: exit %d\n%s", strings.Join(extra, " "), ee.ExitCode(), out)
					return ee.ExitCode()
				}
				require.NoError(t, err, "%s", out)
				return 0
			}

			code := run("--json", cert)
			var rep conformance.Report
			b, err := os.ReadFile(cert)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &rep))
			assert.Equal(t, "at.sim800", rep.Driver)
			for _, c := range rep.Cases {
				if c.Status == conformance.Failed {
					assert.Contains(t, known, c.ID, "%s failed: %v", c.ID, c.Failures)
				}
			}
			assert.Contains(t, []int{0, 1}, code, "certified, or failed only the known limits")

			assert.Equal(t, 0, run("--run", "^("+strings.Join(others, "|")+")"), "every case but the known limits passes")
		})
	}
}
