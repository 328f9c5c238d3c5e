package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/at/atsim"
	_ "github.com/iotd/iotd/drivers/at/builtin" // every dialect
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/localapi"
)

// iotd on a board whose only network is an AT modem: the virtual modem runs
// on a pseudo-terminal (opened by the driver through tarm/serial), its
// sockets are real TCP connections, and iotd runs TLS and MQTT itself over
// them (link.driver tls with over: at.<dialect>, the modem's port and APN in
// the drivers section). Time sync, publishing and the shadow work, and after
// the modem reboots mid-session the link comes back by itself.
func TestDaemonOverATModem(t *testing.T) {
	rows := []struct {
		dialect  string
		settings string // the drivers-section entry, after port
		fault    []atsim.Fault
	}{
		{dialect: "quectel", settings: "apn: cmnet"},
		{dialect: "esp", settings: "ssid: lab, wifi_password: secret-pw"},
		{dialect: "simcom", settings: "apn: cmnet", fault: []atsim.Fault{{Kind: atsim.Fragment}}},
		{dialect: "ublox", settings: "apn: cmnet"},
	}
	for _, row := range rows {
		t.Run(row.dialect, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sim, hub, r := daemonOverSim(t, atsim.Config{Dialect: row.dialect, Faults: row.fault, Seed: 7}, row.settings)
			pid := fmt.Sprintf("PAT%07d", len(row.dialect))

			st := r.waitStatus(t, "clock sync over the modem", func(st localapi.Status) bool { return connected(st) && !st.LastSync.IsZero() })
			assert.Equal(t, "tls", st.Link.Driver)
			assert.NotZero(t, sim.Stats().ByName[sendCommand(row.dialect)], "the bytes went through the modem's send command")

			rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
			defer rcancel()
			publish := func(payload string) {
				t.Helper()
				rep, err := r.client.Publish(rctx, localapi.PublishRequest{Topic: "event", Payload: payload, QoS: 1})
				require.NoError(t, err)
				require.Equal(t, localapi.Acknowledged, rep.Result)
				topic := rep.Topic
				require.Eventually(t, func() bool {
					for _, m := range hub.Messages(pid, "modem1") {
						if m.Topic == topic && m.Payload == payload {
							return true
						}
					}
					return false
				}, 10*time.Second, 20*time.Millisecond)
			}
			publish(`{"rssi":20}`)
			doc, err := r.client.ShadowReport(rctx, localapi.ShadowReport{Reported: map[string]json.RawMessage{"mode": json.RawMessage(`"eco"`)}})
			require.NoError(t, err)
			assert.JSONEq(t, `"eco"`, string(doc.Reported["mode"]))

			// The modem reboots: the connection fails (ErrBadConn), the
			// modem is brought up again and the link reconnects.
			before := r.waitStatus(t, "connected", connected).Link.Since
			sim.Reboot()
			r.waitStatus(t, "reconnect after the reboot", func(st localapi.Status) bool { return connected(st) && st.Link.Since.After(before) })
			publish(`{"after":"reboot"}`)
			assert.Contains(t, r.log.String(), "reboot", "the log says why the connection ended")
			assert.NotContains(t, r.log.String(), "secret-pw", "the Wi-Fi password is never logged")
		})
	}
}

// daemonOverSim starts an atsim modem with cfg, a hub, and iotd whose link
// runs TLS over the modem's sockets (settings: the drivers-section entry
// after port). The device is PAT<7 digits> "modem1", the digits the
// dialect's length.
func daemonOverSim(t *testing.T, cfg atsim.Config, settings string) (*atsim.Modem, *hubsim.Hub, *running) {
	t.Helper()
	sim, err := atsim.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })

	reg := core.NewRegistry()
	require.NoError(t, reg.Register(posix.NewTCP()))
	require.NoError(t, reg.Register(posix.NewTLSIn(reg)))
	require.NoError(t, modem.RegisterDrivers(reg))

	hub := startHub(t, nil)
	pid := fmt.Sprintf("PAT%07d", len(cfg.Dialect))
	dir := deviceDir(t, hub, pid, "modem1", false)
	y := fmt.Sprintf(`device_info: device_info.json
socket: %s
drivers:
  at.%s: {port: %s, %s}
link:
  driver: tls
  endpoint: %s
  backoff: {initial: 50ms, max: 500ms}
  driver_config:
    ca_file: %s
    over: at.%s
`, filepath.Join(dir, "iotd.sock"), cfg.Dialect, sim.Path(), settings, hub.TLSAddr(), hub.CAFile(), cfg.Dialect)
	p := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(p, []byte(y), 0o600))
	dcfg, err := LoadConfig(p)
	require.NoError(t, err)
	return sim, hub, startDaemonIn(t, dcfg, reg)
}

func sendCommand(dialect string) string {
	switch dialect {
	case "quectel":
		return "AT+QISEND"
	case "esp":
		return "AT+CIPSEND"
	case "simcom":
		return "AT+CIPSEND"
	}
	return "AT+USOWR"
}
