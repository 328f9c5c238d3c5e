package hub

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/internal/pki"
)

// One CA's configuration is built once and shared; a CA file that changed
// is read anew, and a file without certificates is refused.
func TestServiceTLSSharesOneConfigurationPerCA(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ca.pem")
	ca1, err := pki.NewCA("roots test CA 1")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, ca1.CertPEM, 0o600))

	a, err := ServiceTLS(file)
	require.NoError(t, err)
	b, err := ServiceTLS(file)
	require.NoError(t, err)
	assert.Same(t, a, b, "the same certificates: one configuration")
	assert.True(t, a.RootCAs.Equal(ca1.Pool()))

	ca2, err := pki.NewCA("roots test CA 2")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, ca2.CertPEM, 0o600))
	c, err := ServiceTLS(file)
	require.NoError(t, err)
	assert.NotSame(t, a, c, "a rotated CA is read anew")
	assert.True(t, c.RootCAs.Equal(ca2.Pool()))

	require.NoError(t, os.WriteFile(file, []byte("not a certificate"), 0o600))
	_, err = ServiceTLS(file)
	assert.ErrorContains(t, err, "holds no PEM certificate")
}
