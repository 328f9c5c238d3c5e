package ota

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
)

// caConfigs holds one TLS configuration per distinct ca_file content, by
// that content.
var caConfigs sync.Map // string(PEM) -> *tls.Config

// caTLS is the TLS configuration for downloads verified against caFile's
// certificates (hub.ServiceTLS's), one per distinct CA in the process: a
// fleet of thousands of devices in one process (cmd/fleet) parsed the same
// CA once per device, 6 KiB each. The configuration is only read: the
// device's http.Transport clones it for every connection. A CA file
// changed since is read and parsed anew.
func caTLS(caFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	if c, ok := caConfigs.Load(string(pem)); ok {
		return c.(*tls.Config), nil
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	c, _ := caConfigs.LoadOrStore(string(pem), &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	return c.(*tls.Config), nil
}
