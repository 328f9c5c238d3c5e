package hubsim

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/iotd/iotd/internal/pki"
)

// File names inside the state directory.
const (
	caCertName     = "ca.pem"
	caKeyName      = "ca-key.pem"
	serverCertName = "server.pem"
	serverKeyName  = "server-key.pem"
	registryName   = "registry.json"
	lockName       = "hubsim.lock"
)

// serverHosts are the SANs of the broker certificate.
var serverHosts = []string{"localhost", "127.0.0.1", "::1"}

// loadOrCreateCA returns the CA kept in dir, creating it on first use.
func loadOrCreateCA(dir string) (*pki.Pair, error) {
	certFile, keyFile := filepath.Join(dir, caCertName), filepath.Join(dir, caKeyName)
	ca, err := pki.Load(certFile, keyFile)
	if err == nil {
		return ca, nil
	}
	if _, statErr := os.Stat(certFile); !errors.Is(statErr, os.ErrNotExist) {
		return nil, fmt.Errorf("hubsim: CA in %s is unreadable (%w); remove %s and %s to make a new one",
			dir, err, caCertName, caKeyName)
	}
	ca, err = pki.NewCA("hubsim CA")
	if err != nil {
		return nil, fmt.Errorf("hubsim: %w", err)
	}
	if err := ca.Save(certFile, keyFile); err != nil {
		return nil, fmt.Errorf("hubsim: save CA: %w", err)
	}
	return ca, nil
}

// loadOrCreateServerCert returns the broker's certificate, issuing a new one
// when it is missing or was not signed by ca (the CA was replaced).
func loadOrCreateServerCert(dir string, ca *pki.Pair) (*pki.Pair, error) {
	certFile, keyFile := filepath.Join(dir, serverCertName), filepath.Join(dir, serverKeyName)
	if p, err := pki.Load(certFile, keyFile); err == nil && p.Cert.CheckSignatureFrom(ca.Cert) == nil {
		return p, nil
	}
	p, err := ca.Issue(pki.Options{CommonName: "hubsim", Hosts: serverHosts})
	if err != nil {
		return nil, fmt.Errorf("hubsim: issue server certificate: %w", err)
	}
	if err := p.Save(certFile, keyFile); err != nil {
		return nil, fmt.Errorf("hubsim: save server certificate: %w", err)
	}
	return p, nil
}

// serverTLSConfig accepts any client, and verifies a client certificate
// against the hubsim CA when one is given; whether a device needed one is
// decided at CONNECT.
func serverTLSConfig(server, ca *pki.Pair) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &tls.Config{
		Certificates: []tls.Certificate{server.TLS()},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}
}
