package sim800_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/conformancetest"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/modules/sim800"
	"github.com/iotd/iotd/plugins"
)

// The conformance suite over the simulated SIM800, unthrottled (1 MiB
// transfers at 115200 baud would outlast the suite's bounds): every
// socket is a real TCP/UDP connection from atsim to the suite's peers.

// harness is the suite's harness for drv on sim; lc is the plugin, when
// the driver is served through one.
func harness(sim *atsim.Modem, drv driver.Driver, lc conformance.Lifecycle) conformance.Harness {
	return conformance.Harness{
		Driver:    drv,
		TimeScale: 3,
		Features:  conformance.Features{Capabilities: []string{"max_payload", "signal"}},
		Config: func(conformance.Env) ([]byte, error) {
			return json.Marshal(modem.Config{Port: sim.Path(), APN: "internet", User: "iot", Password: password})
		},
		KnownFailures: modem.ConformanceLimits(sim800.Name),
		Lifecycle:     lc,
		Modem:         atsim.ConformanceHook{Sim: sim},
	}
}

// TestConformance certifies at.sim800 in process.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite over a simulated modem takes a while")
	}
	sim := startSim(t, atsim.Config{})
	drv, err := modem.NewDriver(sim800.Name)
	require.NoError(t, err)
	drv.Logger = testLogger(t)
	conformancetest.TestDriver(t, harness(sim, drv, nil))
}

// TestConformancePlugin certifies at.sim800 served by iotd-driver-sim800
// through the plugin boundary; the plugin process opens atsim's pty. A
// kill (P01) leaves the modem up with the port closed: the restarted
// plugin re-opens it and its first dial brings the modem up again.
func TestConformancePlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite over a simulated modem takes a while")
	}
	bin := buildBinaries(t).plugin
	sim := startSim(t, atsim.Config{})
	// Loaded after the modem starts, so that the plugin stops (closing
	// the port) before the modem does.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := plugins.Load(ctx, bin, plugins.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	var drv driver.Driver
	for _, d := range p.Drivers() {
		if d.Name() == "at."+sim800.Name {
			drv = d
		}
	}
	require.NotNil(t, drv, "the plugin serves at.sim800")
	conformancetest.TestDriver(t, harness(sim, drv, p))
}

// binaries are the module's two programs, built once per test run.
type binaries struct{ iotd, plugin string }

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
)

// buildBinaries builds cmd/iotd-sim800 and cmd/iotd-driver-sim800 with
// `go build` into a directory that outlives the test that asked first.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sim800-bin-")
		if err != nil {
			buildErr = err
			return
		}
		built = binaries{iotd: filepath.Join(dir, "iotd-sim800"), plugin: filepath.Join(dir, "iotd-driver-sim800")}
		for bin, pkg := range map[string]string{built.iotd: "./cmd/iotd-sim800", built.plugin: "./cmd/iotd-driver-sim800"} {
			out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
			if err != nil {
				buildErr = &buildError{pkg, string(out), err}
				return
			}
		}
	})
	require.NoError(t, buildErr)
	return built
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if built.iotd != "" {
		_ = os.RemoveAll(filepath.Dir(built.iotd))
	}
	os.Exit(code)
}
