package plugins_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	piondtls "github.com/pion/dtls/v2"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/conformancetest"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/drivers/posix/dtls"
	"github.com/iotd/iotd/drivers/posix/dtls/dtlstest"
	"github.com/iotd/iotd/plugins"
)

// TestConformance certifies the posix drivers served THROUGH the plugin
// boundary, lifecycle cases (kill, restart, redial) included: each row
// has its own plugin process, since the lifecycle cases kill it.
func TestConformance(t *testing.T) {
	psk := dtlsDevice(t)
	tests := []struct {
		name    string
		harness func(d driver.Driver, p *plugins.Plugin) conformance.Harness
	}{
		{"tcp", func(d driver.Driver, p *plugins.Plugin) conformance.Harness {
			return conformance.Harness{Driver: d, Lifecycle: p}
		}},
		{"tls", func(d driver.Driver, p *plugins.Plugin) conformance.Harness {
			return conformance.Harness{
				Driver: d, Lifecycle: p,
				Features: conformance.Features{TLS: true},
				Config: func(env conformance.Env) ([]byte, error) {
					return json.Marshal(posix.TLSConfig{CAFile: env.CAFile})
				},
			}
		}},
		{"udp", func(d driver.Driver, p *plugins.Plugin) conformance.Harness {
			return conformance.Harness{Driver: d, Lifecycle: p, Features: conformance.Features{Capabilities: []string{"max_payload"}}}
		}},
		{"dtls", func(d driver.Driver, p *plugins.Plugin) conformance.Harness {
			return conformance.Harness{
				Driver: d, Lifecycle: p,
				Features: conformance.Features{Capabilities: []string{"psk", "max_payload"}},
				Config: func(conformance.Env) ([]byte, error) {
					return json.Marshal(dtls.Config{PSKIdentity: psk.identity, PSK: base64.StdEncoding.EncodeToString(psk.key)})
				},
				DatagramPeer: func(context.Context) (string, func(), error) {
					return dtlsEcho(t, psk), func() {}, nil
				},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := load(t, plugins.Options{})
			d := driverOf(t, p, tt.name).(driver.Driver)
			conformancetest.TestDriver(t, tt.harness(d, p))
		})
	}
}

type pskDevice struct {
	identity string
	key      []byte
}

func dtlsDevice(t *testing.T) pskDevice {
	key := make([]byte, 16)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return pskDevice{identity: "PLUGINTESTdevice", key: key}
}

// dtlsEcho serves a PSK DTLS echo on loopback until the test ends.
func dtlsEcho(t *testing.T, dev pskDevice) string {
	t.Helper()
	cfg := &piondtls.Config{
		PSK: func(identity []byte) ([]byte, error) {
			if string(identity) != dev.identity {
				return nil, errors.New("unknown identity")
			}
			return dev.key, nil
		},
		CipherSuites:         []piondtls.CipherSuiteID{piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256, piondtls.TLS_PSK_WITH_AES_128_CCM, piondtls.TLS_PSK_WITH_AES_128_CBC_SHA256},
		ExtendedMasterSecret: piondtls.RequestExtendedMasterSecret,
	}
	e, err := dtlstest.Serve(cfg)
	require.NoError(t, err)
	t.Cleanup(e.Close)
	return e.Addr
}
