// Gateway shows a gateway with sub-devices with iotd as a Go library: one
// gateway device, built from the same iotd.yaml the daemon runs with, whose
// sub-devices are listed in its features.gateway.sub_devices. It binds the
// sub-devices that have credentials to the gateway, brings them all online
// through it, and then publishes a JSON telemetry message on each online
// sub-device's behalf every -interval — on the sub-device's own event
// topic ({sub product}/{sub device}/event), over the gateway's connection
// — printing each operation's and each publish's result. On SIGINT or
// SIGTERM it takes the sub-devices offline, then stops.
//
// It uses only the public API: package device and its typed gateway
// (Device.Gateway, a feature.GatewayAPI), the posix drivers (tcp, tls) and
// the gateway feature, both linked by blank import. After a reconnect the
// gateway feature brings the sub-devices that were online back online by
// itself; while they are not, their publishes are refused.
//
// To run it against hubsim, the local hub emulator, from the repository's
// root (make build puts hubsim in bin/; jq reads the sub-devices' secrets):
//
//	bin/hubsim serve --state .ex/hubsim --tls 127.0.0.1:18883 --admin 127.0.0.1:18080 &
//	bin/hubsim device create EXAMPLEGW1 gw1 --out .ex/device_info.json --admin 127.0.0.1:18080
//	cat > .ex/iotd.yaml <<'YAML'
//	device_info: device_info.json
//	link:
//	  driver: tls
//	  endpoint: 127.0.0.1:18883
//	  driver_config: {ca_file: hubsim/ca.pem}
//	features:
//	  gateway:
//	    auto_online: false   # this program brings them online itself
//	    sub_devices:
//	YAML
//	for dn in s1 s2; do
//	  bin/hubsim device create EXAMPLESUB $dn --out .ex/$dn.json --admin 127.0.0.1:18080
//	  echo "      - {product_id: EXAMPLESUB, device_name: $dn, device_secret: $(jq -r .key_deviceinfo.deviceSecret .ex/$dn.json)}" >> .ex/iotd.yaml
//	done
//	go run ./examples/gateway -config .ex/iotd.yaml -interval 2s
//	bin/hubsim gateway list EXAMPLEGW1/gw1 --admin 127.0.0.1:18080     # in another terminal: both online
//	bin/hubsim messages EXAMPLESUB/s1 --admin 127.0.0.1:18080          # s1's telemetry
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
	_ "github.com/iotd/iotd/drivers/posix" // the tcp and tls drivers
	"github.com/iotd/iotd/feature"
	_ "github.com/iotd/iotd/features/gateway" // the gateway feature, which Device.Gateway offers
	"github.com/iotd/iotd/localapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// Telemetry is the message published for a sub-device: a made-up reading.
type Telemetry struct {
	Seq         int     `json:"seq"`
	Temperature float64 `json:"temperature"`
}

const (
	// retryPause is the pause before the sub-devices are brought online
	// again when the hub did not answer (the gateway may not be connected
	// yet).
	retryPause = 5 * time.Second
	// offlineTimeout bounds taking the sub-devices offline at the end.
	offlineTimeout = 15 * time.Second
)

// run runs the gateway, brings its sub-devices online and publishes for
// them until ctx ends; then it takes them offline and returns nil.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	config := fs.String("config", "iotd.yaml", "the gateway's iotd configuration file")
	interval := fs.Duration("interval", 5*time.Second, "time between two telemetry messages of a sub-device")
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
	// The gateway and its configured sub-devices are known once the device
	// is built, before anything connects.
	gw, err := d.Gateway()
	if err == nil && len(gw.SubDevices()) == 0 {
		err = fmt.Errorf("%s: no sub-devices: list them in features.gateway.sub_devices", *config)
	}
	if err != nil {
		_ = d.Close()
		return err
	}
	id := d.Identity()
	fmt.Fprintf(stdout, "gateway %s/%s: %d sub-devices\n", id.ProductID, id.DeviceName, len(gw.SubDevices()))

	// The device outlives ctx by the time it takes to take the
	// sub-devices offline: it runs until stopDevice.
	devCtx, stopDevice := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDevice()
	done := make(chan error, 1)
	go func() { done <- d.Run(devCtx) }()
	// stop stops the device and returns what Run returned, err added.
	stop := func(err error) error {
		stopDevice()
		return errors.Join(err, <-done)
	}
	select {
	case <-d.Ready():
	case <-ctx.Done():
		return stop(nil)
	case err := <-done:
		return err
	}

	var online []localapi.DeviceRef
	for {
		online, err = bringOnline(ctx, gw, stdout)
		if err == nil {
			break
		}
		fmt.Fprintf(stdout, "%v (trying again in %s)\n", err, retryPause)
		select {
		case <-time.After(retryPause):
		case <-ctx.Done():
			return stop(nil)
		case err := <-done: // a feature failed: the device stopped
			return err
		}
	}
	if len(online) == 0 {
		return stop(errors.New("no sub-device came online"))
	}

	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		for i, sub := range online {
			publish(ctx, d, sub, i, seq, *interval, stdout)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), offlineTimeout)
			res, err := gw.Offline(octx, online...)
			cancel()
			printResults(stdout, "offline", res, err)
			return stop(nil)
		case err := <-done: // a feature failed: the device stopped
			return err
		}
	}
}

// bringOnline binds the sub-devices that are not known to be bound and
// have credentials (the others are expected to be bound already, in the
// console), brings every sub-device online, prints each result and returns
// the sub-devices online. Its error says the hub answered none of them.
func bringOnline(ctx context.Context, gw feature.GatewayAPI, stdout io.Writer) ([]localapi.DeviceRef, error) {
	var all, bind []localapi.DeviceRef
	for _, s := range gw.SubDevices() {
		all = append(all, s.DeviceRef)
		if !s.Bound && s.CanBind {
			bind = append(bind, s.DeviceRef)
		}
	}
	if len(bind) > 0 {
		res, err := gw.Bind(ctx, bind...)
		printResults(stdout, "bind", res, err)
	}
	res, err := gw.Online(ctx, all...)
	printResults(stdout, "online", res, err)
	var online []localapi.DeviceRef
	answered := false
	for _, r := range res {
		answered = answered || r.Code != -1
		if r.Code == 0 {
			online = append(online, r.DeviceRef)
		}
	}
	if err != nil && !answered {
		return nil, errors.New("online: no answer from the hub")
	}
	return online, nil
}

// printResults prints an operation's result for each sub-device, or its
// error when it failed as a whole.
func printResults(stdout io.Writer, op string, res []localapi.GatewayResult, err error) {
	if err != nil && len(res) == 0 {
		fmt.Fprintf(stdout, "%s: %v\n", op, err)
		return
	}
	for _, r := range res {
		switch {
		case r.Code == 0:
			fmt.Fprintf(stdout, "%s %s: ok\n", op, r.DeviceRef)
		case r.Code == -1:
			fmt.Fprintf(stdout, "%s %s: no answer: %s\n", op, r.DeviceRef, r.Error)
		default:
			fmt.Fprintf(stdout, "%s %s: refused by the hub, result %d\n", op, r.DeviceRef, r.Code)
		}
	}
}

// publish sends one telemetry message on sub's behalf, to its own event
// topic, and prints its result. It waits at most one interval.
func publish(ctx context.Context, d *device.Device, sub localapi.DeviceRef, i, seq int, interval time.Duration, stdout io.Writer) {
	payload, err := json.Marshal(Telemetry{
		Seq:         seq,
		Temperature: math.Round((20+float64(i)+2*math.Sin(float64(seq)/5))*10) / 10,
	})
	if err != nil {
		fmt.Fprintf(stdout, "%s: publish #%d: %v\n", sub, seq, err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, interval)
	defer cancel()
	topic := sub.ProductID + "/" + sub.DeviceName + "/event"
	res, err := d.Publish(pctx, topic, payload, 1)
	if err != nil {
		fmt.Fprintf(stdout, "%s: publish #%d: %s: %v\n", sub, seq, res, err)
		return
	}
	fmt.Fprintf(stdout, "%s: publish #%d to %s: %s %s\n", sub, seq, topic, res, payload)
}
