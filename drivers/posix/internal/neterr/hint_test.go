package neterr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/internal/pki"
)

// handshake runs a real TLS handshake on loopback between a server with
// srv and a client with cli, then reads once from the client (where TLS 1.3
// delivers the server's verdict on a client certificate), and returns the
// client's first error.
func handshake(t *testing.T, srv, cli *tls.Config) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s := tls.Server(c, srv)
		if s.Handshake() == nil {
			_, _ = s.Write([]byte("x"))
		}
	}()
	defer func() { <-served }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	require.NoError(t, err)
	c := tls.Client(raw, cli)
	defer c.Close()
	if err := c.HandshakeContext(ctx); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 1))
	return err
}

func TestVerifyHint(t *testing.T) {
	ca, err := pki.NewCA("hint test CA")
	require.NoError(t, err)
	other, err := pki.NewCA("other CA")
	require.NoError(t, err)
	server, err := ca.Issue(pki.Options{CommonName: "hub", Hosts: []string{"hub.example", "127.0.0.1"}})
	require.NoError(t, err)
	expired, err := ca.Issue(pki.Options{CommonName: "old", Hosts: []string{"hub.example"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	require.NoError(t, err)
	// A client certificate from a CA that has the trusted CA's name, so the
	// client offers it and the server refuses it.
	impostor, err := pki.NewCA("hint test CA")
	require.NoError(t, err)
	stranger, err := impostor.Issue(pki.Options{CommonName: "dev", Client: true})
	require.NoError(t, err)

	srv := func(cert *pki.Pair, auth tls.ClientAuthType, maxV uint16) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{cert.TLS()}, ClientAuth: auth, ClientCAs: ca.Pool(), MaxVersion: maxV}
	}
	cli := func(roots *x509.CertPool, name string, certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: roots, ServerName: name, Certificates: certs}
	}
	rows := []struct {
		name string
		srv  *tls.Config
		cli  *tls.Config
		want []string
	}{
		{"wrong host", srv(server, tls.NoClientCert, 0), cli(ca.Pool(), "other.example"),
			[]string{"is for hub.example, 127.0.0.1, not other.example", "set server_name"}},
		{"unknown authority", srv(server, tls.NoClientCert, 0), cli(other.Pool(), "hub.example"),
			[]string{`signed by "CN=hint test CA,O=iotd"`, "set ca_file"}},
		{"expired", srv(expired, tls.NoClientCert, 0), cli(ca.Pool(), "hub.example"),
			[]string{"valid from", "this host's clock says"}},
		{"client certificate required, TLS 1.2", srv(server, tls.RequireAndVerifyClientCert, tls.VersionTLS12), cli(ca.Pool(), "hub.example"),
			[]string{"requires a client certificate", "set cert_file and key_file"}},
		{"client certificate refused, TLS 1.2", srv(server, tls.VerifyClientCertIfGiven, tls.VersionTLS12), cli(ca.Pool(), "hub.example", stranger.TLS()),
			[]string{"rejected our client certificate (unknown certificate authority)"}},
		{"client certificate refused after the handshake, TLS 1.3", srv(server, tls.VerifyClientCertIfGiven, tls.VersionTLS13), cli(ca.Pool(), "hub.example", stranger.TLS()),
			[]string{"rejected our client certificate (unknown certificate authority)", "not revoked"}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			err := handshake(t, row.srv, row.cli)
			require.Error(t, err)
			hint := VerifyHint(err)
			for _, w := range row.want {
				assert.Contains(t, hint, w, "error: %v", err)
			}
		})
	}
}

func TestAlertHint(t *testing.T) {
	assert.Contains(t, AlertHint("tls: handshake failure"), "refused the handshake")
	assert.Contains(t, AlertHint("tls: certificate revoked"), "(certificate revoked)")
	assert.Contains(t, AlertHint("tls: certificate required"), "requires a client certificate")
}
