package daemon

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/internal/hubtest"
)

// The reloader keeps the file as it was at start and decodes it at the
// first SIGHUP: a daemon that is never reloaded does not pay for it.
func TestReloaderDecodesTheStartFileAtTheFirstReload(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PRELOAD002", "dev1", false)
	base := "device_info: device_info.json\n" + hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile())
	path := hubtest.WriteConfig(t, dir, base+"log: {level: info}\n")
	cfg, err := LoadConfig(path)
	require.NoError(t, err)
	d, err := New(cfg, testRegistry(t), nil)
	require.NoError(t, err)
	r := d.newReloader()
	assert.Nil(t, r.started, "the file was decoded at start")

	// The file changes after the start: a reload compares with what it was.
	hubtest.WriteConfig(t, dir, base+"log: {level: debug}\n")
	require.NoError(t, r.startedKeys())
	assert.Contains(t, r.started["log.level"], "info")
}
