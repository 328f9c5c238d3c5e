// Command mkconfig writes the packaged /etc/iotd/iotd.yaml (see
// packaging.Config) to the file its argument names.
package main

import (
	"fmt"
	"os"

	"github.com/iotd/iotd/daemon"
	"github.com/iotd/iotd/packaging"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mkconfig OUT.yaml")
		os.Exit(2)
	}
	cfg, err := packaging.Config(daemon.Sample)
	if err == nil {
		err = os.WriteFile(os.Args[1], []byte(cfg), 0o640)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkconfig:", err)
		os.Exit(1)
	}
}
