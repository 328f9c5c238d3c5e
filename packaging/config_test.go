package packaging

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/daemon"
	// The features cmd/iotd builds in: the file has their sections.
	_ "github.com/iotd/iotd/features/broadcast"
	_ "github.com/iotd/iotd/features/gateway"
	_ "github.com/iotd/iotd/features/logupload"
	_ "github.com/iotd/iotd/features/ota"
	_ "github.com/iotd/iotd/features/rrpc"
	_ "github.com/iotd/iotd/features/shadow"
	_ "github.com/iotd/iotd/features/timesync"
)

// The daemon accepts the packaged file as it is installed, with the
// packaged paths.
func TestConfigIsAccepted(t *testing.T) {
	text, err := Config(daemon.Sample)
	require.NoError(t, err)
	cfg, err := daemon.ParseConfig([]byte(text), ConfigFile, filepath.Dir(ConfigFile))
	require.NoError(t, err)
	assert.Equal(t, StateDir, cfg.StateDir)
	assert.Equal(t, DeviceInfo, cfg.DeviceInfoPath())
	assert.Equal(t, Socket, cfg.SocketPath())
	assert.True(t, strings.HasPrefix(text, "# /etc/iotd/iotd.yaml"))
	assert.Contains(t, text, "\nfeatures:\n", "the annotations are kept")

	_, err = Config(strings.Replace(daemon.Sample, "state_dir: iotd-state", "state_dir: x", 1))
	assert.ErrorContains(t, err, "state_dir: iotd-state")
}
