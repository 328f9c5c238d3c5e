package hub

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// ServiceTLS returns the TLS configuration that verifies the hub's HTTPS
// services (registration, OTA downloads): the PEM certificates in caFile
// when set, else the system roots plus the public CAs the official SDKs
// embed for these services, so that a board without a CA store still
// verifies them.
func ServiceTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		base, err := x509.SystemCertPool()
		if err != nil {
			base = nil
		}
		return &tls.Config{RootCAs: Pool(base, PublicCAs()), MinVersion: tls.VersionTLS12}, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
