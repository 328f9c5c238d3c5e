package iotdcli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/iotd/iotd/conformance/cli"
	"github.com/iotd/iotd/core"
)

// pluginOpener starts a driver plugin for "iotd conformance --plugin"; nil
// until the plugin host is wired in (then: a function that launches the
// binary through plugins/ and returns its driver and *plugins.Plugin as
// the Lifecycle hook).
var pluginOpener cli.PluginOpener

// exit ends the process with the conformance verdict's status.
var exit = os.Exit

// conformanceCmd is "iotd conformance": the transport conformance suite
// against a built-in driver or a plugin binary. It parses its own flags
// (package conformance/cli), so that a usage error exits 2, a failed MUST
// case 1 and a certified driver 0.
func conformanceCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "conformance (--driver NAME | --plugin PATH [--driver NAME]) [--config FILE|JSON] [--junit FILE] [--json FILE] [--run REGEX] [--level must|should] [--list]",
		Short:              "Certify a transport driver against the driver contract",
		Long:               cli.Usage + "\nRun \"iotd conformance --help\" for the flags.",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			code := cli.Main(cmd.Context(), args, cli.Options{
				Registry: core.Default,
				Plugin:   pluginOpener,
				Stdout:   cmd.OutOrStdout(),
				Stderr:   cmd.ErrOrStderr(),
			})
			if code != cli.ExitCertified {
				exit(code)
			}
			return nil
		},
	}
}
