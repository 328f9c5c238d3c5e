// Command atsim runs a virtual AT modem on a pseudo-terminal, so that iotd
// and its AT drivers can be tried and tested without hardware.
//
//	atsim --dialect quectel [--baud 115200 | --throttle] [--fault fragment,...]
//	      [--seed N] [--no-sim | --pin 1234] [--signal 0..31] [--reg home]
//	      [--host name=ip ...] [--wifi ssid[:password] ...] [--link PATH]
//
// It prints one line naming the pty ("atsim: quectel modem on /dev/pts/7"),
// then serves until SIGINT or SIGTERM. Sockets the driver opens are real
// TCP/UDP connections from this process.
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
	defer stop()
	cmd := newRootCmd()
	cmd.SetOut(os.Stdout)
	cmd.SetErr(os.Stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "atsim:", err)
		os.Exit(1)
	}
}
