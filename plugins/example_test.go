package plugins_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/conformancetest"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins"
)

// TestExampleModule builds the example vendor module with its real main
// and certifies its driver through the plugin boundary.
func TestExampleModule(t *testing.T) {
	p, err := plugins.Load(t.Context(), examplePlugin(t), plugins.Options{
		Logger:     slog.New(slog.DiscardHandler),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	require.Len(t, p.Drivers(), 1)
	d := p.Drivers()[0]
	assert.Equal(t, "example.tcp", d.Name())
	v, err := driver.Lookup[driver.Versioner](d)
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", v.Version())

	_, err = d.Open([]byte(`{"keepalive": 3}`))
	assert.ErrorContains(t, err, `unknown field "keepalive"`, "the plugin's config error comes through")

	conformancetest.TestDriver(t, conformance.Harness{Driver: d, Lifecycle: p})
}
