// Package iotdcli is the iotd command line — `iotd run`, the daemon, and
// every subcommand that talks to it — as a library, so that a custom iotd
// is the stock main plus the imports of the drivers it wants:
//
//	package main
//
//	import (
//		"os"
//
//		_ "github.com/iotd/iotd/drivers/at/builtin"
//		_ "github.com/iotd/iotd/drivers/posix"
//		_ "example.com/acme/sim900" // a vendor's module: registers at.sim900
//		"github.com/iotd/iotd/iotdcli"
//	)
//
//	func main() { os.Exit(iotdcli.Main()) }
//
// Drivers register themselves in core.Default when imported; the CLI
// knows none of them by name.
package iotdcli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Main runs the command line with os.Args until it is done or interrupted
// (SIGINT, SIGTERM) and returns the process's exit status.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Command().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "iotd:", err)
		return 1
	}
	return 0
}

// Command returns the root "iotd" command with every subcommand.
func Command() *cobra.Command { return newRoot() }
