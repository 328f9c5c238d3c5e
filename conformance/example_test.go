package conformance_test

import (
	"context"
	"fmt"
	"os"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/drivers/posix"
)

// A binary runs the cases and files the report (a driver's own test uses
// conformancetest.TestDriver instead).
func ExampleRun() {
	progress := conformance.Progress(nil, func(r conformance.CaseResult) { fmt.Println(r.Line()) })
	rep, err := conformance.Run(context.Background(), conformance.Harness{Driver: posix.NewTCP()}, progress)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Print(rep.Summary())
	_ = rep.WriteJSON(os.Stdout)  // the certificate
	_ = rep.WriteJUnit(os.Stdout) // for CI
	if rep.FailedAt(conformance.Must) {
		os.Exit(1)
	}
}
