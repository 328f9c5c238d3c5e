package daemon

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/drivers/at/atsim"
)

// iotd starts again after a crash, on a modem as the crashed process left
// it (a command half typed in its buffer, two sockets still held) and that
// answers ERROR to the ESC line the bring-up sends, on a line paced like a
// UART: the link connects on its first dial (issue #14: it never did).
func TestDaemonOverATModemAfterACrash(t *testing.T) {
	for _, row := range []struct{ dialect, settings string }{
		{"quectel", "apn: cmnet"},
		{"esp", "ssid: lab, wifi_password: secret-pw"},
		{"simcom", "apn: cmnet"},
		{"ublox", "apn: cmnet"},
	} {
		t.Run(row.dialect, func(t *testing.T) {
			modem, _, r := daemonOverSim(t, atsim.Config{Dialect: row.dialect, Seed: 7, Baud: 115200, Faults: []atsim.Fault{
				{Kind: atsim.HalfTyped}, {Kind: atsim.NonATError}, {Kind: atsim.StaleSockets, Sockets: 2},
			}}, row.settings)
			r.waitStatus(t, "connected over the modem", connected)
			assert.NotContains(t, r.log.String(), "dial failed", "the first dial connected")
			assert.Len(t, modem.OpenSockets(), 1, "the sockets the crashed process held were closed")
		})
	}
}
