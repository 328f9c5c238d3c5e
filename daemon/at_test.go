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

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/posix"
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
			modem, err := atsim.Start(ctx, atsim.Config{Dialect: row.dialect, Faults: row.fault, Seed: 7})
			require.NoError(t, err)
			t.Cleanup(func() { _ = modem.Close() })

			reg := core.NewRegistry()
			require.NoError(t, reg.Register(posix.NewTCP()))
			require.NoError(t, reg.Register(posix.NewTLSIn(reg)))
			require.NoError(t, at.Register(reg))

			hub := startHub(t, nil)
			pid := fmt.Sprintf("PAT%07d", len(row.dialect))
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
`, filepath.Join(dir, "iotd.sock"), row.dialect, modem.Path(), row.settings, hub.TLSAddr(), hub.CAFile(), row.dialect)
			p := filepath.Join(dir, "iotd.yaml")
			require.NoError(t, os.WriteFile(p, []byte(y), 0o600))
			cfg, err := LoadConfig(p)
			require.NoError(t, err)
			r := startDaemonIn(t, cfg, reg)

			st := r.waitStatus(t, "clock sync over the modem", func(st Status) bool { return connected(st) && !st.LastSync.IsZero() })
			assert.Equal(t, "tls", st.Link.Driver)
			assert.NotZero(t, modem.Stats().ByName[sendCommand(row.dialect)], "the bytes went through the modem's send command")

			rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
			defer rcancel()
			publish := func(payload string) {
				t.Helper()
				rep, err := r.client.Publish(rctx, PublishRequest{Topic: "event", Payload: payload, QoS: 1})
				require.NoError(t, err)
				require.Equal(t, bus.Acknowledged, rep.Result)
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
			doc, err := r.client.ShadowReport(rctx, ShadowReport{Reported: map[string]json.RawMessage{"mode": json.RawMessage(`"eco"`)}})
			require.NoError(t, err)
			assert.JSONEq(t, `"eco"`, string(doc.Reported["mode"]))

			// The modem reboots: the connection fails (ErrBadConn), the
			// modem is brought up again and the link reconnects.
			before := r.waitStatus(t, "connected", connected).Link.Since
			modem.Reboot()
			r.waitStatus(t, "reconnect after the reboot", func(st Status) bool { return connected(st) && st.Link.Since.After(before) })
			publish(`{"after":"reboot"}`)
			assert.Contains(t, r.log.String(), "reboot", "the log says why the connection ended")
			assert.NotContains(t, r.log.String(), "secret-pw", "the Wi-Fi password is never logged")
		})
	}
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
