package conformancetest_test

import (
	"testing"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/conformancetest"
	"github.com/iotd/iotd/drivers/posix"
)

// A driver's own test certifies it in one line.
func ExampleTestDriver() {
	_ = func(t *testing.T) {
		conformancetest.TestDriver(t, conformance.Harness{Driver: posix.NewTCP()})
	}
}
