// Command iotd is the device daemon and its command-line client: `iotd run`
// connects a device to Tencent Cloud IoT Hub (or hubsim) and serves a local
// API; the other subcommands talk to a running daemon through that API.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "iotd:", err)
		os.Exit(1)
	}
}
