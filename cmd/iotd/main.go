// Command iotd is the device daemon and its command-line client: `iotd run`
// connects a device to Tencent Cloud IoT Hub (or hubsim) and serves a local
// API; the other subcommands talk to a running daemon through that API.
//
// The command line is package iotdcli; this main adds the built-in drivers
// (builtin_*.go, each left out by its iotd_omit_<name> build tag).
package main

import (
	"os"

	"github.com/iotd/iotd/iotdcli"
)

func main() { os.Exit(iotdcli.Main()) }
