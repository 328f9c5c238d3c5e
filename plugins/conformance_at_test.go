package plugins_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/conformancetest"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/esp"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/at/quectel"
	"github.com/iotd/iotd/drivers/at/simcom"
	"github.com/iotd/iotd/drivers/at/ublox"
	"github.com/iotd/iotd/plugins"
)

// TestConformanceAT certifies the AT modem drivers served THROUGH the
// plugin boundary. The simulated modem (atsim) runs in this process, so
// the suite's Modem hook still reaches it; the plugin process opens the
// modem's pty, which it names in the driver config. A kill (P01) leaves
// the modem up with the port closed: the restarted plugin re-opens the
// port and its first Dial brings the modem up again.
func TestConformanceAT(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite over a simulated modem takes a while")
	}
	for _, d := range []string{quectel.Name, esp.Name, simcom.Name, ublox.Name} {
		t.Run(d, func(t *testing.T) {
			if d == ublox.Name && os.Getenv("IOTD_AT_SLOW") == "" {
				t.Skip("u-blox takes over two minutes; set IOTD_AT_SLOW=1 to run it")
			}
			sim, err := atsim.Start(context.Background(), atsim.Config{Dialect: d})
			require.NoError(t, err)
			t.Cleanup(func() { _ = sim.Close() })
			// Loaded after the modem starts, so that the plugin stops
			// (closing the port) before the modem does.
			opts := plugins.Options{Env: []string{"IOTD_TESTPLUGIN_AT=1"}}
			if os.Getenv("IOTD_AT_DEBUG") != "" {
				opts.Env = append(opts.Env, "IOTD_AT_DEBUG=1") // the plugin sends the modems' logs
			}
			p, logs := load(t, opts)
			t.Cleanup(func() {
				if t.Failed() && os.Getenv("IOTD_AT_DEBUG") != "" {
					t.Log("plugin logs:\n" + logs.String())
				}
			})
			drv := driverOf(t, p, "at."+d).(driver.Driver)
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
				Lifecycle:     p,
				Modem:         atsim.ConformanceHook{Sim: sim},
			})
		})
	}
}
