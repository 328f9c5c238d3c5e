package conformance_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/drivers/posix"
)

// A driver's own test certifies it in one line.
func ExampleTestDriver() {
	_ = func(t *testing.T) {
		conformance.TestDriver(t, conformance.Harness{Driver: posix.NewTCP()})
	}
}

// A binary runs the same cases and files the report.
func ExampleRun() {
	rep, err := conformance.Run(context.Background(), conformance.Harness{Driver: posix.NewTCP()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Print(rep.Summary())
	_ = rep.WriteJSON(os.Stdout)  // the certificate
	_ = rep.WriteJUnit(os.Stdout) // for CI
	if !rep.Certified() {
		os.Exit(1)
	}
}
