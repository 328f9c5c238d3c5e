package at_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
)

func TestSmokeQuectel(t *testing.T) {
	sim := startSim(t, atsim.Config{Dialect: atsim.DialectQuectel})
	m, err := openModem(t, at.Quectel, sim, at.Config{APN: "internet"})
	require.NoError(t, err)
	echo := newEchoServer(t)
	c, err := m.Dial(context.Background(), driver.Stream, echo.addr())
	require.NoError(t, err)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	roundTrip(t, c, all)
	require.NoError(t, c.Close())
}
