package modem_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/conformancetest"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/at/ublox"
)

// TestConformance certifies the AT drivers over atsim: every socket is a
// real TCP/UDP connection from the simulator to the suite's peers.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite over a simulated modem takes a while")
	}
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			if d == ublox.Name && os.Getenv("IOTD_AT_SLOW") == "" {
				// Passes all but the known failures below; 1 MiB through
				// S15 at the 50 ms prompt guard takes over two minutes.
				t.Skip("u-blox takes over two minutes; set IOTD_AT_SLOW=1 to run it")
			}
			sim := startSim(t, atsim.Config{Dialect: d})
			drv, err := modem.NewDriver(d)
			require.NoError(t, err)
			drv.Logger = testLogger(t)
			scale := 3.0
			if d == ublox.Name {
				scale = 4
			}
			conformancetest.TestDriver(t, conformance.Harness{
				Driver:    drv,
				TimeScale: scale,
				Features:  conformance.Features{Capabilities: []string{"max_payload", "signal"}},
				Config: func(conformance.Env) ([]byte, error) {
					return json.Marshal(modem.Config{Port: sim.Path(), APN: "internet", SSID: "iotd-lab", WiFiPassword: "lab password"})
				},
				KnownFailures: modem.ConformanceLimits(d),
				Modem:         atsim.ConformanceHook{Sim: sim},
			})
		})
	}
}
