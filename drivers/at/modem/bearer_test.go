package modem_test

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/esp"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/at/quectel"
	"github.com/iotd/iotd/drivers/at/simcom"
	"github.com/iotd/iotd/drivers/at/ublox"
)

// silentDown takes the data context down with no URC the driver acts on
// (the network deactivates it, another program on the port takes it down).
var silentDown = map[string]string{
	quectel.Name: "AT+QIDEACT=1",
	simcom.Name:  "AT+NETCLOSE",
	ublox.Name:   "AT+CGACT=0,1",
	esp.Name:     "AT+CWQAP", // WIFI DISCONNECT follows the OK, maybe after the dial
}

// After the bearer is lost the next dial connects at once, whether the
// module said so (Quectel "pdpdeact", which leaves the ids taken; SIMCom
// +CIPEVENT; ESP WIFI DISCONNECT; u-blox closing its sockets and the
// context) or not: then the open's answer tells (Quectel 561, SIMCom
// +CIPOPEN: <id>,2, u-blox AT+USOCR refused with the context inactive,
// ESP-AT AT+CIPSTART refused while AT+CWJAP? says No AP), and the dial
// brings the data path up again and opens once more.
func TestRedialAfterBearerLoss(t *testing.T) {
	rows := []struct {
		name string
		lose func(t *testing.T, d string, sim *atsim.Modem, m *modem.Modem, c driver.Conn)
		// opens is how many open commands the redial may send.
		opens int
	}{
		{"the module says so", func(t *testing.T, d string, sim *atsim.Modem, _ *modem.Modem, c driver.Conn) {
			require.NoError(t, sim.Inject(atsim.Fault{Kind: atsim.BearerLoss}))
			_, err := io.Copy(io.Discard, c)
			if d != ublox.Name { // u-blox R4 says no more than +UUSOCL: an EOF
				require.Error(t, err, "the socket fails with the bearer")
			}
		}, 1},
		{"silently", func(t *testing.T, d string, _ *atsim.Modem, m *modem.Modem, _ driver.Conn) {
			_, err := m.Engine().Do(context.Background(), at.Command{Text: silentDown[d], Prefix: "-", Timeout: guard})
			require.NoError(t, err)
		}, 2}, // the refused one and the one that connects
	}
	for _, row := range rows {
		for _, d := range dialects {
			t.Run(row.name+"/"+d, func(t *testing.T) {
				t.Parallel()
				sim, m, echo := modemUp(t, d)
				c := dial(t, m, echo.addr())
				roundTrip(t, c, []byte("before"))
				row.lose(t, d, sim, m, c)
				c.Close()
				before := opens(sim, d)
				c2 := dial(t, m, echo.addr())
				roundTrip(t, c2, []byte("after the bearer came back"))
				assert.LessOrEqual(t, opens(sim, d)-before, row.opens)
				assert.Len(t, sim.OpenSockets(), 1)
			})
		}
	}
}
