package sdk

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A logger made before the default changes (as a driver's is, before
// Serve installs the host's) writes through the default of the moment,
// with its attributes.
func TestLoggerFollowsTheDefault(t *testing.T) {
	before := slog.Default()
	t.Cleanup(func() { slog.SetDefault(before) })
	log := Logger().With("driver", "at.sim800")

	var buf bytes.Buffer
	slog.SetDefault(slog.New(newLogHandler(&buf, slog.LevelInfo)))
	log.Info("modem up", "model", "SIM800")
	log.Debug("not at this level")

	out := buf.String()
	assert.Contains(t, out, `"@message":"modem up"`)
	assert.Contains(t, out, `"driver":"at.sim800"`)
	assert.Contains(t, out, `"model":"SIM800"`)
	assert.NotContains(t, out, "not at this level")
}
