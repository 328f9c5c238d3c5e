package posix_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/internal/pki"
)

// resetter is a TLS 1.2 server that resets the TCP connection where it
// would check the client's certificate, as some servers refuse one instead
// of sending an alert.
func resetter(t *testing.T, server *pki.Pair) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := &tls.Config{
				Certificates: []tls.Certificate{server.TLS()},
				MaxVersion:   tls.VersionTLS12,
				ClientAuth:   tls.RequestClientCert,
				VerifyPeerCertificate: func([][]byte, [][]*x509.Certificate) error {
					_ = c.(*net.TCPConn).SetLinger(0)
					_ = c.Close()
					return net.ErrClosed
				},
			}
			_ = tls.Server(c, tc).Handshake()
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestHandshakeResetWithClientCertificateHints(t *testing.T) {
	p := newPKI(t)
	dev, err := p.ca.Issue(pki.Options{CommonName: "dev", Client: true})
	require.NoError(t, err)
	certFile, keyFile := p.writePair(t, "dev", dev)
	addr := resetter(t, p.server)

	dl := open(t, posix.NewTLS(), posix.TLSConfig{CAFile: p.caFile, CertFile: certFile, KeyFile: keyFile})
	_, err = dl.Dial(testCtx(t), driver.Stream, addr)
	require.Error(t, err)
	assert.ErrorIs(t, err, driver.ErrReset, "a reset stays retryable")
	assert.Contains(t, err.Error(), "refuses a client certificate may do that: check cert_file and key_file")

	// Without a client certificate, a reset is just a reset.
	dl = open(t, posix.NewTLS(), posix.TLSConfig{CAFile: p.caFile})
	_, err = dl.Dial(testCtx(t), driver.Stream, addr)
	require.Error(t, err)
	assert.ErrorIs(t, err, driver.ErrReset)
	assert.NotContains(t, err.Error(), "client certificate")
}
