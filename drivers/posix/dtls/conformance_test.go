package dtls_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/conformancetest"
	"github.com/iotd/iotd/drivers/posix/dtls"
)

// TestConformance certifies the dtls driver (PSK mode) against a pion DTLS
// echo; the suite's datagram cases, the fault-injecting relay included,
// run through it.
func TestConformance(t *testing.T) {
	dev := newDevice(t, "CONFORMANCEdevice")
	conformancetest.TestDriver(t, conformance.Harness{
		Driver:   dtls.New(),
		Features: conformance.Features{Capabilities: []string{"psk", "max_payload"}},
		Config: func(conformance.Env) ([]byte, error) {
			return json.Marshal(dtls.Config{PSKIdentity: dev.clientID, PSK: dev.secret})
		},
		DatagramPeer: func(context.Context) (string, func(), error) {
			// serveEcho stops in t's cleanup.
			return serveEcho(t, pskServerConfig(dev, 0)).Addr, func() {}, nil
		},
	})
}
