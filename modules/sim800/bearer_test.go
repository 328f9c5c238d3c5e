package sim800_test

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/modules/sim800"
)

// After the bearer is lost the next dial connects at once: "+PDP: DEACT"
// fails the open sockets with driver.ErrBadConn and the dial runs
// AT+CIPSHUT, CSTT, CIICR, CIFSR again; a stack shut by someone else
// (no URC) shows as AT+CIPSTART refused and AT+CIFSR finding no context,
// and the dial brings it up and opens once more.
func TestRedialAfterBearerLoss(t *testing.T) {
	rows := []struct {
		name  string
		lose  func(t *testing.T, sim *atsim.Modem, m *modem.Modem, c driver.Conn)
		opens int
	}{
		{"+PDP: DEACT", func(t *testing.T, sim *atsim.Modem, _ *modem.Modem, c driver.Conn) {
			require.NoError(t, sim.Inject(atsim.Fault{Kind: atsim.BearerLoss}))
			_, err := io.Copy(io.Discard, c)
			require.ErrorIs(t, err, driver.ErrBadConn, "the socket fails with the bearer")
		}, 1},
		{"silently", func(t *testing.T, _ *atsim.Modem, m *modem.Modem, _ driver.Conn) {
			_, err := m.Engine().Do(context.Background(), at.Command{Text: "AT+CIPSHUT", Prefix: "-", Timeout: guard})
			require.NoError(t, err)
		}, 2}, // the refused one and the one that connects
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, atsim.Config{})
			m := openModem(t, sim800.Name, sim, testLogger(t))
			echo := newPeer(t)
			c := dial(t, m, echo.Addr())
			roundTrip(t, c, []byte("before"))
			row.lose(t, sim, m, c)
			_ = c.Close()
			shuts := sim.Stats().ByName["AT+CIPSHUT"]
			before := opens(sim)
			c2 := dial(t, m, echo.Addr())
			roundTrip(t, c2, []byte("after the bearer came back"))
			assert.LessOrEqual(t, opens(sim)-before, row.opens)
			assert.Equal(t, 1, sim.Stats().ByName["AT+CIPSHUT"]-shuts, "the stack was reset once")
			assert.Equal(t, []int{0}, sim.OpenSockets())
		})
	}
}
