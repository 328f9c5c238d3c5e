package pki

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIssueAndVerify(t *testing.T) {
	ca, err := NewCA("test CA")
	require.NoError(t, err)
	srv, err := ca.Issue(Options{CommonName: "hub", Hosts: []string{"localhost", "127.0.0.1"}})
	require.NoError(t, err)
	_, err = srv.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"})
	assert.NoError(t, err)
	_, err = srv.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "other.example"})
	assert.Error(t, err)

	old, err := ca.Issue(Options{CommonName: "old", Client: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	require.NoError(t, err)
	_, err = old.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.Error(t, err)

	_, err = srv.Issue(Options{CommonName: "x"})
	assert.Error(t, err)
}

func TestSaveLoadPrivate(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("ca")
	require.NoError(t, err)
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	require.NoError(t, ca.Save(cf, kf))
	st, err := os.Stat(kf)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	got, err := Load(cf, kf)
	require.NoError(t, err)
	assert.True(t, got.Cert.Equal(ca.Cert))
	assert.True(t, got.Key.Equal(ca.Key))

	require.NoError(t, os.WriteFile(cf, []byte("garbage"), 0o644))
	_, err = Load(cf, kf)
	assert.ErrorContains(t, err, "no PEM CERTIFICATE block")
}
