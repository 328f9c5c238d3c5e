package plugins_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins"
)

// TestConnCapabilities: a conn offers, through driver.Lookup, exactly the
// capabilities its Conn in the plugin has, and they work across the
// boundary.
func TestConnCapabilities(t *testing.T) {
	p, _ := load(t, plugins.Options{})
	addr := tcpServer(t, echo)

	radio := dial(t, p, "test.radio", driver.Stream, addr)
	m, err := driver.Lookup[driver.MaxPayloader](radio)
	require.NoError(t, err)
	assert.Equal(t, 1460, m.MaxPayload())
	sr, err := driver.Lookup[driver.SignalReporter](radio)
	require.NoError(t, err)
	sig, err := sr.Signal(t.Context())
	require.NoError(t, err)
	assert.Equal(t, driver.Signal{RSSI: -71, Quality: 80, Technology: "LTE"}, sig)
	sl, err := driver.Lookup[driver.Sleeper](radio)
	require.NoError(t, err)
	assert.NoError(t, sl.Sleep(t.Context(), time.Millisecond))
	assert.ErrorIs(t, sl.Sleep(t.Context(), -1), driver.ErrNotSupported)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, sl.Sleep(ctx, time.Hour), context.DeadlineExceeded)

	caps, ok := driverOf(t, p, "test.radio").(interface{ Capabilities() []string })
	require.True(t, ok)
	assert.Equal(t, []string{"signal", "sleeper"}, caps.Capabilities())

	tcp := dial(t, p, "tcp", driver.Stream, addr)
	_, err = driver.Lookup[driver.SignalReporter](tcp)
	assert.ErrorIs(t, err, driver.ErrNotSupported)
	_, err = driver.Lookup[driver.Sleeper](tcp)
	assert.ErrorIs(t, err, driver.ErrNotSupported)
	_, err = driver.Lookup[driver.MaxPayloader](tcp)
	assert.ErrorIs(t, err, driver.ErrNotSupported)

	require.NoError(t, radio.Close())
	_, err = sr.Signal(t.Context())
	assert.ErrorContains(t, err, "closed")
}
