// Twodevices shows several devices in one process with iotd as a Go
// library: two devices, each built from its own iotd.yaml with its own
// identity, link, features and state, run side by side. Each subscribes to
// its own control topic ({product}/{device}/control), prints every message
// it receives there, and publishes a JSON message to that same topic every
// -interval, which the hub hands back to it: each device hears itself, and
// only itself. It stops cleanly on SIGINT or SIGTERM.
//
// It uses only the public API: package device and the posix drivers (tcp,
// tls), linked by blank import.
//
// To run it against hubsim, the local hub emulator, from the repository's
// root (make build puts hubsim in bin/), give each device its own
// directory: its device_info.json and its state_dir (iotd-state, next to
// the configuration, by default) must not be shared.
//
//	bin/hubsim serve --state .ex/hubsim --tls 127.0.0.1:18883 --admin 127.0.0.1:18080 &
//	for dn in a b; do
//	  mkdir -p .ex/$dn
//	  bin/hubsim device create EXAMPLEP01 dev-$dn --out .ex/$dn/device_info.json --admin 127.0.0.1:18080
//	  printf 'link:\n  driver: tls\n  endpoint: 127.0.0.1:18883\n  driver_config: {ca_file: ../hubsim/ca.pem}\n' > .ex/$dn/iotd.yaml
//	done
//	go run ./examples/twodevices -config-a .ex/a/iotd.yaml -config-b .ex/b/iotd.yaml
//	bin/hubsim pub EXAMPLEP01/dev-b control '{"hello":"b"}' --admin 127.0.0.1:18080   # only b prints it
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/iotd/iotd/device"
	_ "github.com/iotd/iotd/drivers/posix" // the tcp and tls drivers
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "twodevices:", err)
		os.Exit(1)
	}
}

// Note is the message each device publishes to its own control topic.
type Note struct {
	From string `json:"from"`
	Seq  int    `json:"seq"`
}

// run runs both devices until ctx ends, or until one of them fails (which
// stops the other); it returns nil when ctx ended.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("twodevices", flag.ContinueOnError)
	configA := fs.String("config-a", "a/iotd.yaml", "device a's iotd configuration file")
	configB := fs.String("config-b", "b/iotd.yaml", "device b's iotd configuration file")
	interval := fs.Duration("interval", 5*time.Second, "time between two messages of a device")
	verbose := fs.Bool("v", false, "log the devices' work to stderr (default: warnings only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *interval <= 0 {
		return errors.New("-interval must be positive")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	out := &lockedWriter{w: stdout} // both devices print, from their own goroutines

	// Build both before running either: a bad configuration stops the
	// program before anything connects.
	names := []string{"a", "b"}
	devs := make([]*device.Device, len(names))
	for i, path := range []string{*configA, *configB} {
		cfg, err := device.LoadConfig(path)
		if err == nil {
			devs[i], err = device.New(cfg, device.WithLogger(logger.With("device", names[i])))
		}
		if err != nil {
			for _, d := range devs[:i] {
				_ = d.Close()
			}
			return fmt.Errorf("device %s: %w", names[i], err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(devs))
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel() // one device failing stops the other
			errs[i] = runDevice(ctx, names[i], d, *interval, out)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runDevice runs d, subscribes to its control topic and publishes to it
// every interval, until ctx ends; it returns nil then.
func runDevice(ctx context.Context, name string, d *device.Device, interval time.Duration, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	// stop stops the device and returns what Run returned, err added.
	stop := func(err error) error {
		cancel()
		if err = errors.Join(err, <-done); err != nil {
			return fmt.Errorf("device %s: %w", name, err)
		}
		return nil
	}
	select {
	case <-d.Ready():
	case err := <-done:
		done <- err
		return stop(nil)
	}
	id := d.Identity()
	fmt.Fprintf(out, "%s: device %s/%s running\n", name, id.ProductID, id.DeviceName)

	// "control" is short for {product}/{device}/control: this device's own.
	sub, err := d.Subscribe(ctx, "control", 1, func(m device.Message) {
		fmt.Fprintf(out, "%s: received on %s: %s\n", name, m.Topic, m.Payload)
	})
	if err != nil {
		if ctx.Err() != nil {
			err = nil // stopped before it subscribed
		}
		return stop(err)
	}
	defer sub.Cancel()

	tick := time.NewTicker(interval)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		payload, _ := json.Marshal(Note{From: name, Seq: seq})
		pctx, pcancel := context.WithTimeout(ctx, interval)
		res, err := d.Publish(pctx, "control", payload, 1)
		pcancel()
		if err != nil {
			fmt.Fprintf(out, "%s: publish #%d: %s: %v\n", name, seq, res, err)
		} else {
			fmt.Fprintf(out, "%s: publish #%d: %s %s\n", name, seq, res, payload)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return stop(nil)
		case err := <-done: // a feature failed: the device stopped
			done <- err
			return stop(nil)
		}
	}
}

// lockedWriter serializes writes to w: each line is written whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
