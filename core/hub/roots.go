package hub

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
)

// ServiceTLS returns the TLS configuration that verifies the hub's HTTPS
// services (registration, OTA downloads): the PEM certificates in caFile
// when set, else the system roots plus the public CAs the official SDKs
// embed for these services, so that a board without a CA store still
// verifies them. The configuration for a CA file is shared by every caller
// with the same certificates: use it as it is (http.Transport clones it
// per connection), never modify it.
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
	if c, ok := caConfigs.Load(string(pem)); ok {
		return c.(*tls.Config), nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	c, _ := caConfigs.LoadOrStore(string(pem), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	return c.(*tls.Config), nil
}

// caConfigs holds ServiceTLS's configuration for each distinct CA file
// content: a fleet of thousands of devices in one process (cmd/fleet)
// parsed the same CA once per device and feature, 6 KiB each. The file is
// read every time, so a changed CA is parsed anew.
var caConfigs sync.Map // string(PEM) -> *tls.Config
