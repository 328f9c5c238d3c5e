// Command fleet runs a fleet of virtual devices in one process against
// hubsim, through iotd's Go API (package device), and reports what a
// vendor wants to know before shipping thousands: how long they take to
// connect, the publish rate they hold and its latency, the memory each one
// costs, a firmware update pushed to all, the reconnect storm after a hub
// restart, and the errors by kind.
//
//	fleet [-admin 127.0.0.1:8080] [-n 1000] [-product FLEET00001] [-prefix d-] [-list FILE]
//	      [-jitter 10s] [-rate 1] [-qos 1] [-payload 64] [-shadow] [-ota] [-ota-after 10s]
//	      [-duration 60s] [-tcp] [-shared-tls=true] [-backoff-initial 1s] [-backoff-jitter 0.5]
//	      [-progress 5s] [-json] [-dir DIR] [-cpuprofile FILE] [-memprofile FILE] [-pprof ADDR]
//
// It creates the devices in a running hubsim with one bulk request (POST
// /devices/bulk; those that exist are reused) or runs the device_info.json
// files listed in -list (one path a line), writes each identity and
// state_dir under -dir, and starts every device after a random wait in
// [0, -jitter). Each device is a device.Device with its own identity, link,
// bus, uplink and features; they share one driver registry and, over TLS,
// one TLS client configuration (one CA pool, one session cache). Every
// device publishes a JSON message of -payload bytes on its event topic
// -rate times a second (QoS 1: the latency is until the PUBACK); with
// -shadow it reports its state and applies desired changes; with -ota the
// fleet uploads a firmware to hubsim -ota-after the fleet is all connected
// and pushes it to every device (POST /products/{pid}/ota), whose
// installer takes it.
//
// A line of progress goes to stderr every -progress; the summary to stdout
// (-json: as JSON) after -duration from the moment all devices connected
// (0: until SIGINT), or at SIGINT/SIGTERM, which stop the devices cleanly.
// Restart hubsim on the same ports and state while it runs, and the
// summary gives the reconnect storm: from the first drop to 99% and 100%
// of the devices back.
//
// Against a local hubsim (make build puts both in bin/):
//
//	bin/hubsim serve --state /tmp/fleet-hub --message-log -1 --coap - &
//	bin/fleet -n 1000 -jitter 10s -rate 1 -ota -duration 60s
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
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/pprofserve"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

// run parses args, runs the fleet and writes its summary to stdout; the
// progress goes to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	stderr = &lockedWriter{w: stderr} // the progress goroutine writes there too
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	adminAddr := fs.String("admin", hubsim.DefaultAdminAddr, "hubsim's admin API address")
	n := fs.Int("n", 100, "devices to create in hubsim (existing ones are reused)")
	product := fs.String("product", "FLEET00001", "the devices' product")
	prefix := fs.String("prefix", "d-", "device name prefix: d-0001 ... (zero-padded to -n's width)")
	list := fs.String("list", "", "a file listing device_info.json paths, one a line, to run instead of creating devices")
	dir := fs.String("dir", "", "where the devices' identities and state go (default: a temporary directory, removed at the end)")
	plainTCP := fs.Bool("tcp", false, "connect to hubsim's plain TCP listener instead of TLS")
	sharedTLS := fs.Bool("shared-tls", true, "one TLS configuration for the fleet (one CA pool, one session cache); false: each device's tls driver reads the CA at every dial")
	jitter := fs.Duration("jitter", 10*time.Second, "each device starts after a random wait in [0, jitter)")
	rate := fs.Float64("rate", 1, "publishes per second per device (0: none; hubsim allows 30 by default)")
	qos := fs.Uint("qos", 1, "publish QoS, 0 or 1")
	payload := fs.Int("payload", 64, "publish payload size in bytes (at least 32)")
	pubTimeout := fs.Duration("publish-timeout", 30*time.Second, "how long one publish may wait for its acknowledgement")
	shadow := fs.Bool("shadow", false, "each device reports its shadow when it connects and applies desired changes")
	ota := fs.Bool("ota", false, "push a firmware to every device -ota-after the fleet is all connected")
	otaAfter := fs.Duration("ota-after", 10*time.Second, "when to push the firmware, after all devices connected")
	otaSize := fs.Int("ota-size", 16<<10, "firmware size in bytes")
	duration := fs.Duration("duration", 60*time.Second, "how long to run once all devices connected (0: until SIGINT)")
	connectTimeout := fs.Duration("connect-timeout", 10*time.Minute, "how long to wait for all devices to connect before the steady window starts anyway")
	every := fs.Duration("progress", 5*time.Second, "time between two progress lines on stderr (0: none)")
	backoffInitial := fs.Duration("backoff-initial", time.Second, "the devices' first reconnection wait (link.backoff.initial)")
	backoffMax := fs.Duration("backoff-max", 60*time.Second, "the devices' longest reconnection wait (link.backoff.max)")
	backoffJitter := fs.Float64("backoff-jitter", 0.5, "the randomised fraction of each reconnection wait (link.backoff.jitter, 0 to 1)")
	outbox := fs.Bool("outbox", false, "give each device its durable outbox (fsync every 200ms); off, QoS 1 messages wait in memory")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	verbose := fs.Bool("v", false, "log the devices' warnings to stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	memProfile := fs.String("memprofile", "", "write a heap profile at the summary to this file (go tool pprof)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address while the fleet runs (heap, goroutines)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *qos > 1 {
		return errors.New("-qos must be 0 or 1")
	}
	if *rate < 0 || *n < 1 && *list == "" {
		return errors.New("-n must be positive and -rate not negative")
	}
	if *backoffJitter == 0 {
		*backoffJitter = -1 // link.backoff.jitter 0 means the default; -backoff-jitter 0 means none
	}

	if *pprofAddr != "" {
		stopPprof, err := pprofserve.Serve(*pprofAddr)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	admin := hubsim.NewClient(*adminAddr)
	info, err := admin.Info(ctx)
	if err != nil {
		return fmt.Errorf("hubsim at %s: %w", *adminAddr, err)
	}
	opt := Options{
		Devices: *n, Product: *product, Prefix: *prefix, Dir: *dir,
		Endpoint: info.TLSAddr, TLS: !*plainTCP, CAPEM: []byte(info.CAPEM), SharedTLS: *sharedTLS,
		Jitter: *jitter, Rate: *rate, QoS: byte(*qos), Payload: *payload, PublishTimeout: *pubTimeout,
		Shadow: *shadow, Outbox: *outbox,
		Backoff: core.BackoffConfig{Initial: core.Duration(*backoffInitial), Max: core.Duration(*backoffMax), Jitter: *backoffJitter},
	}
	if *plainTCP {
		opt.Endpoint = info.TCPAddr
	}
	if opt.Endpoint == "" || opt.Endpoint == hubsim.Off {
		return fmt.Errorf("hubsim at %s has no MQTT %s listener", *adminAddr, map[bool]string{true: "TCP", false: "TLS"}[*plainTCP])
	}
	if *list != "" {
		if opt.InfoFiles, err = readList(*list); err != nil {
			return err
		}
	}
	if opt.Dir == "" {
		if opt.Dir, err = os.MkdirTemp("", "fleet-"); err != nil {
			return err
		}
		defer os.RemoveAll(opt.Dir)
	}
	if *verbose {
		opt.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	t0 := time.Now()
	f, err := New(ctx, admin, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "fleet: %d devices built in %s; endpoint %s\n", f.Len(), time.Since(t0).Round(time.Millisecond), opt.Endpoint)
	devCtx, stopDevices := context.WithCancel(context.Background())
	defer stopDevices()
	f.Start(devCtx)

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if *every <= 0 {
			return
		}
		t := time.NewTicker(*every)
		defer t.Stop()
		var p progress
		for {
			select {
			case <-t.C:
				fmt.Fprintln(stderr, "fleet:", f.progressLine(&p))
			case <-stopProgress:
				return
			}
		}
	}()

	// Until all connected, then the steady window.
	connectDeadline := time.After(*connectTimeout)
wait:
	for {
		if _, ever := f.Connected(); ever == f.Len() {
			break
		}
		select {
		case <-ctx.Done():
			break wait
		case <-connectDeadline:
			fmt.Fprintf(stderr, "fleet: not all connected after %s; the steady window starts anyway\n", *connectTimeout)
			break wait
		case <-time.After(50 * time.Millisecond):
		}
	}
	if ctx.Err() == nil {
		f.MarkSteady()
		now, ever := f.Connected()
		fmt.Fprintf(stderr, "fleet: steady window starts: %d connected, %d ever, of %d\n", now, ever, f.Len())
	}
	var end <-chan time.Time
	if *duration > 0 {
		end = time.After(*duration)
	}
	var otaAt <-chan time.Time
	if *ota {
		otaAt = time.After(*otaAfter)
	}
	pushed := 0
run:
	for {
		select {
		case <-ctx.Done():
			break run
		case <-end:
			break run
		case <-otaAt:
			res, err := f.PushOTA(ctx, admin, "2.0.0", *otaSize)
			if err != nil {
				fmt.Fprintln(stderr, "fleet: OTA push:", err)
				f.errs.add("ota push: " + errorKind(err.Error()))
			} else {
				pushed = res.Pushed
				fmt.Fprintf(stderr, "fleet: firmware %s pushed to %d devices (%d offline)\n", res.Update.Version, res.Pushed, res.Offline)
			}
		}
	}

	sum := f.Summary(pushed)
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			fmt.Fprintln(stderr, "fleet: heap profile:", err)
		}
	}
	close(stopProgress)
	<-progressDone
	fmt.Fprintln(stderr, "fleet: stopping the devices")
	stopDevices()
	f.Wait()

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	sum.writeText(stdout)
	return nil
}

func readList(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range splitLines(string(data)) {
		if line != "" && line[0] != '#' {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no device_info.json", path)
	}
	return out, nil
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '\n' {
			line := s[start:i]
			for len(line) > 0 && (line[len(line)-1] == '\r' || line[len(line)-1] == ' ') {
				line = line[:len(line)-1]
			}
			out = append(out, line)
			start = i + 1
		}
	}
	return out
}

func writeHeapProfile(path string) error {
	pf, err := os.Create(path)
	if err != nil {
		return err
	}
	defer pf.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(pf)
}

// lockedWriter serialises writes to w: the progress lines come from their
// own goroutine.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
