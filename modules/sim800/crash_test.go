package sim800_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at/atsim"
)

// What a crashed iotd, or the module itself, leaves on the line costs no
// dial: each case connects on the first dial of a fresh driver, which is
// what the link does after iotd restarts, and the module is left holding
// only the new connection.
func TestFirstDialAfterACrash(t *testing.T) {
	rows := []struct {
		name   string
		faults []atsim.Fault
		opens  int // AT+CIPSTART commands the dial may send
	}{
		{"halftyped", []atsim.Fault{{Kind: atsim.HalfTyped, Text: "AT+CIPSEND=0,"}}, 1},
		{"nonaterror", []atsim.Fault{{Kind: atsim.NonATError}}, 1},
		{"rebootmid bring-up", []atsim.Fault{{Kind: atsim.RebootMidCommand, Command: "AT+CIICR"}}, 1},
		// The module rebooted on the first, unanswered.
		{"rebootmid open", []atsim.Fault{{Kind: atsim.RebootMidCommand, Command: "AT+CIPSTART="}}, 2},
		{"stalesockets", []atsim.Fault{{Kind: atsim.StaleSockets, Sockets: 6}}, 1},
		{"all of them", []atsim.Fault{{Kind: atsim.HalfTyped}, {Kind: atsim.NonATError}, {Kind: atsim.StaleSockets, Sockets: 6},
			{Kind: atsim.Fragment}, {Kind: atsim.URCInResponse}, {Kind: atsim.Garbage}}, 1},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{Faults: row.faults, Seed: 3, Baud: 115200})
			echo := newPeer(t)
			c, err := firstDial(t, sim, echo.Addr())
			require.NoError(t, err, "the first dial connects")
			roundTrip(t, c, []byte("first dial"))
			assert.Equal(t, row.opens, opens(sim), "no open refused because a number was in use")
			assert.Equal(t, []int{0}, sim.OpenSockets(), "the module holds only the new connection")
		})
	}
}

// Sockets that appear after the bring-up (a second process on the port)
// cost no dial either: "<n>, ALREADY CONNECT" makes the dial close the
// number and open it again.
func TestDialFreesANumberStillInUse(t *testing.T) {
	sim := startSim(t, atsim.Config{})
	m := openModem(t, "sim800", sim, testLogger(t))
	require.NoError(t, sim.Inject(atsim.Fault{Kind: atsim.StaleSockets, Sockets: 6}))
	before := opens(sim)
	c := dial(t, m, newPeer(t).Addr())
	roundTrip(t, c, []byte("after the retry"))
	assert.Equal(t, 2, opens(sim)-before, "refused as in use, then opened")
	assert.Contains(t, sim.OpenSockets(), 0)
}
