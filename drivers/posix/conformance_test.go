package posix_test

import (
	"encoding/json"
	"testing"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/conformancetest"
	"github.com/iotd/iotd/drivers/posix"
)

// TestConformance certifies the tcp, tls and udp drivers against the
// conformance suite's loopback peers.
func TestConformance(t *testing.T) {
	tests := []struct {
		name    string
		harness conformance.Harness
	}{
		{"tcp", conformance.Harness{Driver: posix.NewTCP()}},
		{"tls", conformance.Harness{
			Driver:   posix.NewTLS(),
			Features: conformance.Features{TLS: true, Capabilities: []string{"tls1.2", "tls1.3"}},
			Config: func(env conformance.Env) ([]byte, error) {
				return json.Marshal(posix.TLSConfig{CAFile: env.CAFile})
			},
		}},
		{"udp", conformance.Harness{Driver: posix.NewUDP(), Features: conformance.Features{Capabilities: []string{"max_payload"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conformancetest.TestDriver(t, tt.harness)
		})
	}
}
