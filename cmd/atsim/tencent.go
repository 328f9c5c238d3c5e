package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/iotd/iotd/drivers/at/atsim"
)

// tencentFlags point the tencent personality's MQTT client at a broker
// other than the hub, such as hubsim, and at the CA that signed its
// certificate.
type tencentFlags struct {
	broker string
	ca     string
}

func (t *tencentFlags) register(f *pflag.FlagSet) {
	f.StringVar(&t.broker, "tencent-broker", "", "tencent: the host:port the module's MQTT client connects to instead of the hub (hubsim's TLS port)")
	f.StringVar(&t.ca, "tencent-ca", "", "tencent: PEM file of the CAs that verify the broker (hubsim's ca.pem); default the hub's own")
}

// fill sets cfg.Tencent; the flags are for the tencent dialect only.
func (t *tencentFlags) fill(cfg *atsim.Config) error {
	if t.broker == "" && t.ca == "" {
		return nil
	}
	if cfg.Dialect != atsim.DialectTencent {
		return errors.New("--tencent-broker and --tencent-ca are for --dialect tencent")
	}
	cfg.Tencent.Broker = t.broker
	if t.ca == "" {
		return nil
	}
	pem, err := os.ReadFile(t.ca)
	if err != nil {
		return fmt.Errorf("--tencent-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("--tencent-ca %s: no PEM certificate in it", t.ca)
	}
	cfg.Tencent.RootCAs = pool
	return nil
}
