package hubtest

import (
	"crypto/x509"
	"errors"
	"os"

	"github.com/iotd/iotd/hubsim"
)

// CAPool returns a pool holding hub's CA, for clients that verify it
// without a file (atsim's tencent module).
func CAPool(hub *hubsim.Hub) (*x509.CertPool, error) {
	pem, err := os.ReadFile(hub.CAFile())
	if err != nil {
		return nil, err
	}
	cas := x509.NewCertPool()
	if !cas.AppendCertsFromPEM(pem) {
		return nil, errors.New("hubtest: no certificate in " + hub.CAFile())
	}
	return cas, nil
}
