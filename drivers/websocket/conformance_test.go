package websocket_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/conformancetest"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/websocket"
)

// TestConformance certifies the websocket driver. The suite's peers speak
// plain TCP, so the carrier is a bridge whose gateway relays between
// WebSocket messages and the peer (see bridge): the driver under test
// runs the real handshake and framing over a real TCP connection.
func TestConformance(t *testing.T) {
	reg := core.NewRegistry()
	require.NoError(t, reg.Register(newBridge(t)))
	conformancetest.TestDriver(t, conformance.Harness{
		Driver: websocket.NewIn(reg),
		Config: func(conformance.Env) ([]byte, error) { return []byte(`{"over":"bridge"}`), nil },
	})
}
