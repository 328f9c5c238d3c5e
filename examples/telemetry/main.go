// Telemetry shows iotd as a Go library: one device, built from the same
// iotd.yaml the daemon runs with, that publishes a JSON telemetry message
// on its "event" topic ({product}/{device}/event) with QoS 1 every
// -interval, prints what became of each publish (acknowledged, stored,
// refused, not sent), and stops cleanly on SIGINT or SIGTERM.
//
// It uses only the public API: package device, the posix drivers (tcp,
// tls) and the time sync feature, both linked by blank import.
//
// To run it against hubsim, the local hub emulator, from the repository's
// root (make build puts hubsim in bin/):
//
//	bin/hubsim serve --state .ex/hubsim --tls 127.0.0.1:18883 --admin 127.0.0.1:18080 &
//	bin/hubsim device create EXAMPLEP01 sensor1 --out .ex/device_info.json --admin 127.0.0.1:18080
//	cat > .ex/iotd.yaml <<'YAML'
//	device_info: device_info.json
//	link:
//	  driver: tls
//	  endpoint: 127.0.0.1:18883
//	  driver_config: {ca_file: hubsim/ca.pem}
//	YAML
//	go run ./examples/telemetry -config .ex/iotd.yaml -interval 2s
//	bin/hubsim messages EXAMPLEP01/sensor1 --admin 127.0.0.1:18080   # in another terminal
//
// Any iotd.yaml works, `make run`'s .run/iotd.yaml too (stop the demo's
// iotd first: the hub lets one session per device), as long as the features
// it enables are linked: this program links time sync only.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/iotd/iotd/device"
	_ "github.com/iotd/iotd/drivers/posix"     // the tcp and tls drivers
	_ "github.com/iotd/iotd/features/timesync" // a feature, linked by blank import
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "telemetry:", err)
		os.Exit(1)
	}
}

// Telemetry is the message published: a made-up temperature reading.
type Telemetry struct {
	Seq         int       `json:"seq"`
	Time        time.Time `json:"time"`
	Temperature float64   `json:"temperature"`
}

// run runs the device and publishes until ctx ends; it returns nil then.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("telemetry", flag.ContinueOnError)
	config := fs.String("config", "iotd.yaml", "the iotd configuration file")
	interval := fs.Duration("interval", 5*time.Second, "time between two telemetry messages")
	verbose := fs.Bool("v", false, "log the device's work to stderr (default: warnings only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *interval <= 0 {
		return errors.New("-interval must be positive")
	}

	cfg, err := device.LoadConfig(*config)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	d, err := device.New(cfg, device.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))))
	if err != nil {
		return err
	}
	id := d.Identity()
	fmt.Fprintf(stdout, "device %s/%s: publishing to %s every %s\n", id.ProductID, id.DeviceName, d.ExpandTopic("event"), *interval)

	// Run connects, reconnects with backoff and runs the features until ctx
	// ends; it returns nil then, or an error when something failed.
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		return err
	}

	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		publish(ctx, d, seq, *interval, stdout)
		select {
		case <-tick.C:
		case <-ctx.Done():
			return <-done
		case err := <-done: // a feature failed: the device stopped
			return err
		}
	}
}

// publish sends one telemetry message and prints its result. It waits at
// most one interval: while offline the message waits in the queue (or the
// outbox) and is withdrawn (not sent) if the hub has not taken it by then.
func publish(ctx context.Context, d *device.Device, seq int, interval time.Duration, stdout io.Writer) {
	now := d.Clock().Now() // corrected by time sync once connected
	payload, err := json.Marshal(Telemetry{
		Seq: seq, Time: now,
		Temperature: math.Round((21.5+2*math.Sin(float64(seq)/5))*10) / 10,
	})
	if err != nil {
		fmt.Fprintf(stdout, "publish #%d: %v\n", seq, err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, interval)
	defer cancel()
	res, err := d.Publish(pctx, "event", payload, 1)
	if err != nil {
		fmt.Fprintf(stdout, "publish #%d: %s: %v\n", seq, res, err)
		return
	}
	fmt.Fprintf(stdout, "publish #%d: %s %s\n", seq, res, payload)
}
