package modem_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/esp"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/at/quectel"
	"github.com/iotd/iotd/drivers/at/simcom"
	"github.com/iotd/iotd/drivers/at/ublox"
)

// What a previous session, or the module itself, leaves on the line must
// cost no dial: each case connects on the first dial of a fresh driver,
// which is what the link does after iotd restarts.

// openCommand is the command that connects a socket, as atsim counts it.
func openCommand(dialect string) string {
	switch dialect {
	case quectel.Name:
		return "AT+QIOPEN"
	case esp.Name:
		return "AT+CIPSTART"
	case simcom.Name:
		return "AT+CIPOPEN"
	}
	return "AT+USOCO"
}

// opens counts the open commands (set commands, not queries) sim received.
func opens(sim *atsim.Modem, dialect string) int {
	n := 0
	for _, c := range sim.Commands() {
		if strings.HasPrefix(c, openCommand(dialect)+"=") {
			n++
		}
	}
	return n
}

// bringUpCommand is a command of the dialect's bring-up.
func bringUpCommand(dialect string) string {
	if dialect == esp.Name {
		return "AT+CWMODE"
	}
	return "AT+CPIN"
}

// firstDial opens a fresh driver on sim and dials addr once, as a link's
// first attempt does (the bring-up runs inside that dial).
func firstDial(t *testing.T, dialect string, sim *atsim.Modem, addr string) (driver.Conn, error) {
	t.Helper()
	drv, err := modem.NewDriver(dialect)
	require.NoError(t, err)
	drv.Logger = testLogger(t)
	cfg, err := json.Marshal(modem.Config{Port: sim.Path(), APN: "internet", SSID: "iotd-lab", WiFiPassword: "lab password",
		RegistrationTimeout: modem.Duration(guard)})
	require.NoError(t, err)
	dl, err := drv.Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { dl.(io.Closer).Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 6*guard)
	defer cancel()
	c, err := dl.Dial(ctx, driver.Stream, addr)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// modemUp starts a sim, brings a modem up on it and starts an echo peer.
func modemUp(t *testing.T, dialect string) (*atsim.Modem, *modem.Modem, *echoServer) {
	t.Helper()
	sim := startSim(t, atsim.Config{Dialect: dialect})
	m, err := openModem(t, dialect, sim, modem.Config{APN: "internet"})
	require.NoError(t, err)
	return sim, m, newEchoServer(t)
}

func TestFirstDialConnects(t *testing.T) {
	rows := []struct {
		name   string
		faults func(dialect string) []atsim.Fault
	}{
		{"half-typed command on the line", func(string) []atsim.Fault {
			return []atsim.Fault{{Kind: atsim.HalfTyped}}
		}},
		{"ERROR to non-AT lines", func(string) []atsim.Fault {
			return []atsim.Fault{{Kind: atsim.NonATError}}
		}},
		{"sockets still held", func(string) []atsim.Fault {
			return []atsim.Fault{{Kind: atsim.StaleSockets, Sockets: 3}}
		}},
		{"crash: all of them", func(string) []atsim.Fault {
			return []atsim.Fault{{Kind: atsim.HalfTyped, Text: "AT+QISEND=0,"}, {Kind: atsim.NonATError}, {Kind: atsim.StaleSockets, Sockets: 12}}
		}},
		{"reboot during the bring-up", func(d string) []atsim.Fault {
			return []atsim.Fault{{Kind: atsim.RebootMidCommand, Command: bringUpCommand(d)}}
		}},
		{"reboot during the open", func(d string) []atsim.Fault {
			return []atsim.Fault{{Kind: atsim.RebootMidCommand, Command: openCommand(d) + "="}}
		}},
		{"crash, noisy line", func(string) []atsim.Fault {
			return []atsim.Fault{{Kind: atsim.HalfTyped}, {Kind: atsim.NonATError}, {Kind: atsim.StaleSockets},
				{Kind: atsim.Fragment}, {Kind: atsim.URCInResponse}, {Kind: atsim.Garbage}}
		}},
	}
	for _, row := range rows {
		for _, d := range dialects {
			t.Run(row.name+"/"+d, func(t *testing.T) {
				t.Parallel()
				// At a real UART's pace the module's answer to the stray
				// line comes after the next command is on its way, as
				// with a real module; unthrottled, atsim answers first.
				sim := startSim(t, atsim.Config{Dialect: d, Faults: row.faults(d), Seed: 3, Baud: 115200})
				echo := newEchoServer(t)
				c, err := firstDial(t, d, sim, echo.addr())
				require.NoError(t, err, "the first dial connects")
				roundTrip(t, c, []byte("first dial"))
				want := 1
				if row.name == "reboot during the open" {
					want = 2 // the module rebooted on the first, unanswered
				}
				assert.Equal(t, want, opens(sim, d), "no open refused because an id was in use")
				assert.Len(t, sim.OpenSockets(), 1, "the module holds only the new socket")
			})
		}
	}
}

// Sockets that appear after the bring-up (a second process on the port,
// or a module that kept one the sweep could not see) cost no dial either:
// the open that meets the id in use frees it and opens again.
func TestDialFreesASocketStillInUse(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			sim, m, echo := modemUp(t, d)
			require.NoError(t, sim.Inject(atsim.Fault{Kind: atsim.StaleSockets, Sockets: 12}))
			before, creates := opens(sim, d), sim.Stats().ByName["AT+USOCR"]
			c := dial(t, m, echo.addr())
			roundTrip(t, c, []byte("after the retry"))
			if d == ublox.Name {
				// The module picks ids: no socket free, sweep, create again.
				assert.Equal(t, 2, sim.Stats().ByName["AT+USOCR"]-creates)
				assert.Len(t, sim.OpenSockets(), 1)
				return
			}
			assert.Equal(t, 2, opens(sim, d)-before, "refused as in use, then opened")
			assert.Contains(t, sim.OpenSockets(), 0)
		})
	}
}
