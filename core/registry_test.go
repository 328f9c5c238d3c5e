package core

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
)

type probeDriver struct {
	name  string
	probe error
}

func (d probeDriver) Name() string                       { return d.name }
func (d probeDriver) Transports() []driver.Transport     { return []driver.Transport{driver.Stream} }
func (d probeDriver) Probe(context.Context) error        { return d.probe }
func (d probeDriver) Open([]byte) (driver.Dialer, error) { return nil, driver.ErrNotSupported }

func TestRegistryRejectsDuplicatesAndBadNames(t *testing.T) {
	r := NewRegistry()
	require.NoError(t, r.Register(probeDriver{name: "tcp"}))
	err := r.Register(probeDriver{name: "tcp"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"tcp" registered twice`)

	for _, bad := range []string{"", "TCP", "a..b", ".x", "x y"} {
		assert.Error(t, r.Register(probeDriver{name: bad}), "name %q", bad)
	}
	assert.Error(t, r.Register(nil))
	assert.Equal(t, []string{"tcp"}, r.Names())
}

func TestRegistryUnknownNameListsWhatExists(t *testing.T) {
	r := NewRegistry()
	_, err := r.Driver("tls")
	require.ErrorIs(t, err, ErrUnknownDriver)
	assert.Contains(t, err.Error(), "no drivers are registered")

	require.NoError(t, r.Register(probeDriver{name: "udp"}))
	require.NoError(t, r.Register(probeDriver{name: "at.esp"}))
	_, err = r.Driver("tls")
	require.ErrorIs(t, err, ErrUnknownDriver)
	assert.Contains(t, err.Error(), "registered: at.esp, udp")
}

func TestRegistryProbeClassifies(t *testing.T) {
	r := NewRegistry()
	require.NoError(t, r.Register(probeDriver{name: "ok"}))
	require.NoError(t, r.Register(probeDriver{name: "skip", probe: fmt.Errorf("no modem: %w", driver.ErrSkip)}))
	require.NoError(t, r.Register(probeDriver{name: "bad", probe: errors.New("port busy")}))

	got := map[string]ProbeResult{}
	for _, res := range r.Probe(context.Background(), 0) {
		got[res.Name] = res
	}
	assert.Equal(t, Loaded, got["ok"].State)
	assert.Equal(t, Skipped, got["skip"].State)
	assert.Equal(t, Failed, got["bad"].State)
	assert.Equal(t, "port busy", got["bad"].Err)
}
