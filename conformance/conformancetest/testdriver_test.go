package conformancetest_test

import (
	"testing"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/conformancetest"
	"github.com/iotd/iotd/drivers/posix"
)

// The go test front end runs every case, nettest included, against the
// tcp driver.
func TestTestDriverTCP(t *testing.T) {
	conformancetest.TestDriver(t, conformance.Harness{Driver: posix.NewTCP()})
}
