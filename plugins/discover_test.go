package plugins_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/plugins"
)

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	files := []struct {
		name string
		mode os.FileMode
	}{
		{"iotd-driver-acme", 0o755},
		{"iotd-driver-b.exe", 0o700},
		{"iotd-driver-noexec", 0o644},
		{"iotd-driver-acme.sha256", 0o755},
		{"iotd-driver-", 0o755},
		{"other-binary", 0o755},
		{"README", 0o644},
	}
	for _, f := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f.name), []byte("x"), f.mode))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "iotd-driver-dir"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(dir, "iotd-driver-acme"), filepath.Join(dir, "iotd-driver-link")))

	got, err := plugins.Discover(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{filepath.Join(dir, "iotd-driver-acme"), filepath.Join(dir, "iotd-driver-b.exe")}, got)

	_, err = plugins.Discover(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestIsPluginName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"iotd-driver-acme", true},
		{"iotd-driver-acme-lte", true},
		{"iotd-driver-x.exe", true},
		{"iotd-driver-", false},
		{"iotd-driver-.exe", false},
		{"iotd-driver-a.sha256", false},
		{"iotd-driver--x", false},
		{"driver-acme", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, plugins.IsPluginName(tt.name))
		})
	}
}
