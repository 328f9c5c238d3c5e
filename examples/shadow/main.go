// Shadow shows the device shadow with iotd as a Go library: one device,
// built from the same iotd.yaml the daemon runs with, follows its shadow.
// It reports its settings ({"interval":5,"led":false}) as its reported
// state, then follows the desired state: each desired change (a delta)
// whose key it knows and whose value it can apply — "interval", a whole
// number of seconds from 1 to 86400, and "led", true or false — is applied,
// printed, and confirmed with ReportAndClearDesired, which reports the new
// value and removes the key from desired. A key it does not know, or a
// value it cannot apply, is printed and left in desired. Desired values
// set while the program was not running are applied when it starts. It
// stops cleanly on SIGINT or SIGTERM.
//
// It uses only the public API: package device and its typed shadow
// (Device.Shadow, a feature.ShadowAPI), the posix drivers (tcp, tls) and
// the shadow feature, both linked by blank import.
//
// To run it against hubsim, the local hub emulator, from the repository's
// root (make build puts hubsim in bin/):
//
//	bin/hubsim serve --state .ex/hubsim --tls 127.0.0.1:18883 --admin 127.0.0.1:18080 &
//	bin/hubsim device create EXAMPLEP01 lamp1 --out .ex/device_info.json --admin 127.0.0.1:18080
//	cat > .ex/iotd.yaml <<'YAML'
//	device_info: device_info.json
//	link:
//	  driver: tls
//	  endpoint: 127.0.0.1:18883
//	  driver_config: {ca_file: hubsim/ca.pem}
//	YAML
//	go run ./examples/shadow -config .ex/iotd.yaml
//	bin/hubsim shadow desire EXAMPLEP01/lamp1 interval=10 led=true color=red --admin 127.0.0.1:18080   # in another terminal
//	bin/hubsim shadow get EXAMPLEP01/lamp1 --admin 127.0.0.1:18080   # reported updated, only color left in desired
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/iotd/iotd/device"
	_ "github.com/iotd/iotd/drivers/posix" // the tcp and tls drivers
	"github.com/iotd/iotd/feature"
	_ "github.com/iotd/iotd/features/shadow" // the shadow feature, which Device.Shadow offers
	"github.com/iotd/iotd/localapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "shadow:", err)
		os.Exit(1)
	}
}

// Settings are what the shadow sets: the device's reported state. A real
// device would act on them (change its sampling period, switch its LED).
type Settings struct {
	// Interval is a period in seconds.
	Interval int  `json:"interval"`
	LED      bool `json:"led"`
}

// MaxInterval bounds Settings.Interval: one day.
const MaxInterval = 86400

// retryPause is the pause before the first report is tried again (the
// device may not be connected yet).
const retryPause = 5 * time.Second

// run runs the device and follows its shadow until ctx ends; it returns
// nil then.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("shadow", flag.ContinueOnError)
	config := fs.String("config", "iotd.yaml", "the iotd configuration file")
	interval := fs.Int("interval", 5, "the initial interval setting, in seconds")
	led := fs.Bool("led", false, "the initial led setting")
	verbose := fs.Bool("v", false, "log the device's work to stderr (default: warnings only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *interval < 1 || *interval > MaxInterval {
		return fmt.Errorf("-interval must be from 1 to %d seconds", MaxInterval)
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
	// The shadow is known once the device is built: a program that does
	// not link features/shadow, or a configuration that switches it off,
	// fails here, before anything connects.
	sh, err := d.Shadow()
	if err != nil {
		_ = d.Close()
		return err
	}
	id := d.Identity()
	fmt.Fprintf(stdout, "device %s/%s: following its shadow\n", id.ProductID, id.DeviceName)

	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		return err
	}

	// Watch before the first read, so that no delta falls between them.
	deltas := sh.Watch(ctx)
	f := &follower{sh: sh, out: stdout, cur: Settings{Interval: *interval, LED: *led}, left: map[string]string{}}
	for {
		err := f.start(ctx)
		if err == nil {
			break
		}
		fmt.Fprintf(stdout, "shadow: %v (trying again in %s)\n", err, retryPause)
		select {
		case <-time.After(retryPause):
		case <-ctx.Done():
			return <-done
		case err := <-done: // a feature failed: the device stopped
			return err
		}
	}
	fmt.Fprintln(stdout, "watching desired state")

	for {
		select {
		case delta, ok := <-deltas:
			if !ok { // ctx ended
				return <-done
			}
			f.follow(ctx, delta)
		case err := <-done:
			return err
		}
	}
}

// follower applies desired changes to its settings.
type follower struct {
	sh  feature.ShadowAPI
	out io.Writer
	cur Settings
	// seen is the version of the last delta followed: a delta the watch
	// hands over again (a read's, after a reconnect) is not applied twice.
	seen int64
	// left is what was left in desired, key to value: the hub repeats it
	// in every delta (after each confirmation too), it is printed once.
	left map[string]string
}

// start reports the current settings and follows what the document
// already desires.
func (f *follower) start(ctx context.Context) error {
	doc, err := f.sh.Report(ctx, f.cur.values())
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintf(f.out, "reported %s (version %d)\n", compact(f.cur.values()), doc.Version)
	doc, err = f.sh.Get(ctx)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	f.follow(ctx, localapi.ShadowDelta{State: doc.Delta, Version: doc.Version, Source: "get"})
	return nil
}

// follow applies one delta's known keys, prints every key's outcome (a key
// left in desired only when its value is new), and confirms the applied
// ones: reported, and cleared from desired.
func (f *follower) follow(ctx context.Context, delta localapi.ShadowDelta) {
	if delta.Version <= f.seen {
		return
	}
	f.seen = delta.Version
	applied := map[string]json.RawMessage{}
	for _, key := range slices.Sorted(maps.Keys(delta.State)) {
		value := delta.State[key]
		if v, ok := f.left[key]; ok && v == string(value) {
			continue
		}
		prefix := fmt.Sprintf("desired v%d (%s): %s=%s", delta.Version, delta.Source, key, value)
		change, err := f.cur.apply(key, value)
		if err != nil {
			fmt.Fprintf(f.out, "%s: %v; left in desired\n", prefix, err)
			f.left[key] = string(value)
			continue
		}
		delete(f.left, key)
		applied[key] = value
		fmt.Fprintf(f.out, "%s: applied, %s\n", prefix, change)
	}
	if len(applied) == 0 {
		return
	}
	doc, err := f.sh.ReportAndClearDesired(ctx, applied)
	if err != nil {
		fmt.Fprintf(f.out, "confirm %s: %v\n", compact(applied), err)
		return
	}
	fmt.Fprintf(f.out, "confirmed %s: reported and cleared from desired (version %d)\n", compact(applied), doc.Version)
}

// errUnknown is a desired key these settings do not have.
var errUnknown = errors.New("unknown key")

// apply sets key to value and says what changed.
func (s *Settings) apply(key string, value json.RawMessage) (string, error) {
	switch key {
	case "interval":
		var n int
		if err := json.Unmarshal(value, &n); err != nil || bytes.Equal(value, []byte("null")) {
			return "", errors.New("not a whole number of seconds")
		}
		if n < 1 || n > MaxInterval {
			return "", fmt.Errorf("out of range (1 to %d seconds)", MaxInterval)
		}
		old := s.Interval
		s.Interval = n
		return fmt.Sprintf("interval %ds -> %ds", old, n), nil
	case "led":
		var on bool
		if err := json.Unmarshal(value, &on); err != nil || bytes.Equal(value, []byte("null")) {
			return "", errors.New("not true or false")
		}
		old := s.LED
		s.LED = on
		return fmt.Sprintf("led %v -> %v", old, on), nil
	}
	return "", errUnknown
}

// values are the settings as shadow values.
func (s Settings) values() map[string]json.RawMessage {
	b, _ := json.Marshal(s)
	var out map[string]json.RawMessage
	_ = json.Unmarshal(b, &out)
	return out
}

// compact is values as one line of JSON, keys sorted.
func compact(values map[string]json.RawMessage) string {
	b, _ := json.Marshal(values)
	return string(b)
}
