package main

import "github.com/spf13/cobra"

// extraCommands are the constructors of the service subcommands (shadow,
// rrpc, broadcast, ...); each lives in its own file and adds itself here in
// an init function.
var extraCommands []func(*globals) *cobra.Command
