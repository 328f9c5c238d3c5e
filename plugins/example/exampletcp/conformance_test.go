package exampletcp_test

import (
	"testing"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/conformancetest"
	"github.com/iotd/iotd/plugins/example/exampletcp"
)

// TestConformance certifies the driver in process; the plugins package of
// iotd certifies the built plugin binary through the plugin boundary.
func TestConformance(t *testing.T) {
	conformancetest.TestDriver(t, conformance.Harness{Driver: exampletcp.New()})
}
