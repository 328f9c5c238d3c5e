package modem_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/drivers/at/simcom"
)

// A modem outlives the process that used it: after a crash (or a killed
// plugin) its links are still open when the next process brings it up. A
// SIMCom link left open answers +CIPOPEN: <id>,4 ("in use"); the driver
// closes it and opens again instead of failing every dial.
func TestSIMComReusesALinkLeftOpen(t *testing.T) {
	sim := startSim(t, atsim.Config{Dialect: atsim.DialectSIMCom})
	echo := newEchoServer(t)

	// The previous owner: opens the network and link 0 by hand, then
	// vanishes without closing anything.
	port, err := openPort(sim)
	require.NoError(t, err)
	eng := at.New(port, at.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, cmd := range []at.Command{
		{Text: "ATE0"},
		{Text: "AT+CIPRXGET=1"},
		{Text: "AT+NETOPEN", Await: prefixed("+NETOPEN"), AwaitTimeout: 10 * time.Second},
		{Text: fmt.Sprintf("AT+CIPOPEN=0,\"TCP\",\"127.0.0.1\",%s", portOf(echo.addr())), Await: prefixed("+CIPOPEN"), AwaitTimeout: 10 * time.Second},
	} {
		_, err := eng.Do(ctx, cmd)
		require.NoError(t, err, cmd.Text)
	}
	require.Equal(t, []int{0}, sim.OpenSockets())
	eng.Close()
	port.Close()

	m, err := openModem(t, simcom.Name, sim, modem.Config{APN: "cmnet"})
	require.NoError(t, err)
	c, err := m.Dial(ctx, driver.Stream, echo.addr())
	require.NoError(t, err, "the stale link is closed and opened again")
	defer c.Close()
	roundTrip(t, c, []byte("after a crash"))
	assert.Equal(t, []int{0}, sim.OpenSockets(), "one link: the stale one was closed")
}

func prefixed(p string) func(string) bool {
	return func(l string) bool { return len(l) >= len(p) && l[:len(p)] == p }
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}
