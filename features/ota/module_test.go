package ota

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/internal/pki"
)

// Without ca_file, OTA asks env.HTTP for the default roots (nil), which
// the device loads at the first https request, not as the daemon starts;
// with ca_file it passes that file's roots; a disabled OTA asks for no
// transport at all.
func TestBuildLeavesTheDefaultRootsToTheTransport(t *testing.T) {
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	defer b.Close()
	dir := t.TempDir()
	pair, err := pki.NewCA("ota test CA")
	require.NoError(t, err)
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, pair.CertPEM, 0o600))

	for _, tt := range []struct {
		name      string
		cfg       Config
		calls     int
		wantRoots bool
	}{
		{"default roots", Config{}, 1, false},
		{"ca_file", Config{CAFile: ca}, 1, true},
		{"disabled", Config{Disabled: true}, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			env := &feature.Env{
				Bus: b, Device: &core.DeviceInfo{ProductID: "POTA000001", DeviceName: "dev1"},
				Path: func(p string) string { return p },
				HTTP: func(_ string, c *tls.Config) (http.RoundTripper, error) {
					calls++
					assert.Equal(t, tt.wantRoots, c != nil && c.RootCAs != nil)
					return http.DefaultTransport, nil
				},
			}
			_, err := build(tt.cfg, "ota", "POTA000001", "dev1", t.TempDir(), env)
			require.NoError(t, err)
			assert.Equal(t, tt.calls, calls)
		})
	}
}
