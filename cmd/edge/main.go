// Command edge runs the parts of an edge site around iotd on the NATS bus
// backend (README: "The bus on NATS", `make run-edge`):
//
//	edge nats    [-addr 127.0.0.1:4222] [-store DIR] [-v]
//	edge produce -topic PRODUCT/DEVICE/event [-url nats://127.0.0.1:4222] [-n 1000] [-window 64] [-qos 1]
//	edge verify  -device PRODUCT/DEVICE -topic T -want N [-admin 127.0.0.1:8080] [-wait 10s]
//
// nats is a JetStream nats-server on loopback that runs until SIGINT or
// SIGTERM and prints its client URL on stdout. produce is what a producer
// on another machine would be: a bare NATS client (no iotd library but the
// subject mapping) that publishes telemetry to iotd's uplink subject
// (iotd.uplink.publish, headers topic, qos, reply_to, correlation_id),
// reads each reply and prints the rate and how many the hub acknowledged.
// verify asks hubsim's admin API how many of them it logged, in order.
//
// It is a binary of its own so that iotd links neither nats-server nor this
// demo code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: edge nats|produce|verify [flags]   (edge CMD -h for its flags)
  nats     a JetStream nats-server on loopback, until interrupted; prints its URL
  produce  publish telemetry through NATS to iotd's uplink, wait for each reply
  verify   count the messages hubsim logged for a device
`

// run runs the subcommand args[0] and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "nats":
		err = runNATS(ctx, args[1:], stdout, stderr)
	case "produce":
		err = runProduce(ctx, args[1:], stdout, stderr)
	case "verify":
		err = runVerify(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "edge: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "edge %s: %v\n", args[0], err)
	return 1
}

// errUsage is a command-line mistake the flag package already reported.
var errUsage = errors.New("usage")

// parse parses args into fs, which reports its own errors on stderr.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}
