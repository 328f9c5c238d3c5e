// OTA shows firmware updates installed from Go: iotd downloads what the
// cloud pushes (resuming after interruptions) and checks its MD5; this
// program's installer, set with Device.OTA().SetInstaller, installs it.
//
// Its "board" is a directory of two firmware slots, a and b (-slots), as
// on an A/B system:
//
//   - -mode ab (the default): the installer writes the image into the
//     inactive slot, marks it to boot next and returns
//     feature.ErrRebootPending; the program then exits, as a board would
//     reboot. Run it again: the "bootloader" boots the marked slot, the
//     program checks the image (its health check) and confirms the update
//     with OTA().Succeed, or rejects it with OTA().Fail and boots back.
//     Until then the hub sees "burning", never a failure for the reboot.
//   - -mode inplace: the installer overwrites the active slot and returns
//     nil; the update is done at once.
//
// To run it against hubsim from the repository's root (make build puts
// hubsim in bin/), with the configuration of examples/telemetry plus
//
//	state_dir: state
//	features:
//	  ota: {version: 1.0.0, ca_file: hubsim/ca.pem}
//
// then
//
//	go run ./examples/ota -config .ex/iotd.yaml -slots .ex/slots
//	head -c 300000 /dev/urandom > .ex/fw.bin
//	bin/hubsim ota push EXAMPLEP01/sensor1 .ex/fw.bin --version 2.0.0 --admin 127.0.0.1:18080
//	go run ./examples/ota -config .ex/iotd.yaml -slots .ex/slots   # "after the reboot"
//	bin/hubsim ota status EXAMPLEP01/sensor1 --admin 127.0.0.1:18080
package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/iotd/iotd/device"
	_ "github.com/iotd/iotd/drivers/posix" // the tcp and tls drivers
	"github.com/iotd/iotd/feature"
	_ "github.com/iotd/iotd/features/ota" // the OTA feature, linked by blank import
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ota:", err)
		os.Exit(1)
	}
}

// run runs the device until ctx ends, or until an A/B install asks for a
// reboot; it returns nil then.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ota", flag.ContinueOnError)
	config := fs.String("config", "iotd.yaml", "the iotd configuration file")
	slotsDir := fs.String("slots", "slots", "the directory holding the board's firmware slots")
	mode := fs.String("mode", "ab", "ab: install into the other slot and reboot; inplace: overwrite the running slot")
	verbose := fs.Bool("v", false, "log the device's work to stderr (default: warnings only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mode != "ab" && *mode != "inplace" {
		return fmt.Errorf("-mode %q: use ab or inplace", *mode)
	}
	b, err := openBoard(*slotsDir)
	if err != nil {
		return err
	}
	booted, err := b.boot()
	if err != nil {
		return err
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
	updates, err := d.OTA()
	if err != nil {
		return err
	}
	reboot := make(chan string, 1)
	updates.SetInstaller(func(_ context.Context, img feature.FirmwareImage) error {
		if *mode == "inplace" {
			if err := b.write(b.active, img); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "installed %s into the running slot %s\n", img.Version, b.active)
			return nil
		}
		slot := b.other()
		if err := b.write(slot, img); err != nil {
			return err
		}
		if err := b.markNext(slot, img); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "installed %s into slot %s; rebooting into it\n", img.Version, slot)
		select {
		case reboot <- img.Version:
		default:
		}
		return feature.ErrRebootPending
	})
	fmt.Fprintf(stdout, "running version %s from slot %s\n", updates.Status().Version, b.active)

	rctx, stopDevice := context.WithCancel(ctx)
	defer stopDevice()
	done := make(chan error, 1)
	go func() { done <- d.Run(rctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		return err
	}
	if booted != nil {
		confirm(ctx, updates, b, booted, stdout)
	}
	fmt.Fprintf(stdout, "version %s: waiting for updates\n", updates.Status().Version)
	select {
	case <-ctx.Done():
		return <-done
	case err := <-done:
		return err
	case v := <-reboot:
		// Let the device record the pending install before "rebooting".
		waitState(ctx, updates, "reboot_pending")
		stopDevice()
		fmt.Fprintf(stdout, "reboot to run %s\n", v)
		return <-done
	}
}

// confirm is the health check after booting a new image: the slot must
// hold the image that was installed. It confirms or rejects the update.
func confirm(ctx context.Context, updates feature.OTAAPI, b *board, booted *trial, stdout io.Writer) {
	if err := b.check(booted); err != nil {
		fmt.Fprintf(stdout, "slot %s failed its health check (%v): booting back\n", booted.slot, err)
		b.rollback(booted)
		if err := updates.Fail(ctx, booted.version, 0, "health check: "+err.Error()); err != nil {
			fmt.Fprintln(stdout, "fail report:", err)
		}
		return
	}
	if err := updates.Succeed(ctx, booted.version); err != nil {
		fmt.Fprintln(stdout, "confirmation:", err)
		return
	}
	fmt.Fprintf(stdout, "booted %s from slot %s: confirmed\n", booted.version, booted.slot)
}

// waitState waits until the update's state is state, or ctx ends.
func waitState(ctx context.Context, updates feature.OTAAPI, state string) {
	for updates.Status().State != state && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// board is the example's stand-in for a bootloader with two slots.
type board struct {
	dir    string
	active string // "a" or "b"
}

// trial is a slot booted for the first time, not yet confirmed.
type trial struct{ slot, version, md5, from string }

func openBoard(dir string) (*board, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b := &board{dir: dir, active: "a"}
	if s, err := os.ReadFile(filepath.Join(dir, "active")); err == nil {
		b.active = strings.TrimSpace(string(s))
	}
	if b.active != "a" && b.active != "b" {
		return nil, fmt.Errorf("%s: active slot %q: want a or b", filepath.Join(dir, "active"), b.active)
	}
	return b, nil
}

func (b *board) other() string {
	if b.active == "a" {
		return "b"
	}
	return "a"
}

func (b *board) write(slot string, img feature.FirmwareImage) error {
	data, err := os.ReadFile(img.File)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(b.dir, slot+".bin"), data, 0o600)
}

// markNext tells the "bootloader" to try slot once at the next boot.
func (b *board) markNext(slot string, img feature.FirmwareImage) error {
	return os.WriteFile(filepath.Join(b.dir, "next"), []byte(slot+" "+img.Version+" "+img.MD5+"\n"), 0o600)
}

// boot is the bootloader: a slot marked to try is booted (and the mark
// consumed); it returns that trial, or nil for a normal boot.
func (b *board) boot() (*trial, error) {
	s, err := os.ReadFile(filepath.Join(b.dir, "next"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(s))
	if len(f) != 3 {
		return nil, fmt.Errorf("%s: want SLOT VERSION MD5", filepath.Join(b.dir, "next"))
	}
	t := &trial{slot: f[0], version: f[1], md5: f[2], from: b.active}
	if err := os.Remove(filepath.Join(b.dir, "next")); err != nil {
		return nil, err
	}
	b.active = t.slot
	return t, os.WriteFile(filepath.Join(b.dir, "active"), []byte(t.slot+"\n"), 0o600)
}

func (b *board) rollback(t *trial) {
	b.active = t.from
	_ = os.WriteFile(filepath.Join(b.dir, "active"), []byte(t.from+"\n"), 0o600)
}

// check is the health check: the booted slot holds the installed image.
func (b *board) check(t *trial) error {
	data, err := os.ReadFile(filepath.Join(b.dir, t.slot+".bin"))
	if err != nil {
		return err
	}
	sum := md5.Sum(data)
	if got := hex.EncodeToString(sum[:]); got != t.md5 {
		return fmt.Errorf("slot %s holds an image with MD5 %s, installed %s", t.slot, got, t.md5)
	}
	return nil
}
