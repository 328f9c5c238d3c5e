package ota

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// The program's part in an update (feature.OTAAPI): its own installer,
// reports of an install it runs itself, and the confirmation of an install
// that takes effect after a reboot.

// HookRebootPending is the install hook's exit status for "installed,
// takes effect after a reboot" (feature.ErrRebootPending).
const HookRebootPending = 3

// ErrBusy: iotd is downloading or installing an update itself, and reports
// its outcome.
var ErrBusy = errors.New("ota: an update is in progress")

// rebootPending maps the hook's exit status 3 to feature.ErrRebootPending.
func rebootPending(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == HookRebootPending {
		return fmt.Errorf("%w (install hook exited %d)", feature.ErrRebootPending, HookRebootPending)
	}
	return err
}

// awaitReboot records an install that runs after a reboot. The caller
// holds o.reports.
func (o *OTA) awaitReboot(ctx context.Context, cp *Checkpoint) {
	cp.Installing, cp.RebootPending, cp.From = false, true, o.Version()
	if err := SaveCheckpoint(o.dir, cp); err != nil {
		o.fail(ctx, cp, diskFailure(cp, err))
		return
	}
	o.setState(StateRebootPending)
	o.log.Info("OTA installed; the update is done when the device runs it after a reboot", "version", cp.Version,
		"running", cp.From, "confirm_timeout", o.cfg.ConfirmTimeout)
}

// confirmAfterReboot, at start, ends an install that was waiting for a
// reboot: done when the device runs its version, else failed when nothing
// confirms it within ConfirmTimeout.
func (o *OTA) confirmAfterReboot(ctx context.Context, cp *Checkpoint) {
	o.reports.Lock()
	defer o.reports.Unlock()
	if o.Version() == cp.Version {
		o.log.Info("OTA install confirmed: the device runs the new version after the reboot", "version", cp.Version)
		_ = o.installed(ctx, cp.Version)
		return
	}
	o.mu.Lock()
	o.st.State, o.st.TargetVersion, o.st.Size, o.st.Updated = StateRebootPending, cp.Version, cp.Size, time.Now()
	o.mu.Unlock()
	o.log.Info("OTA waiting for confirmation of the install", "version", cp.Version, "running", o.Version(), "timeout", o.cfg.ConfirmTimeout)
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		t := time.NewTimer(o.cfg.ConfirmTimeout)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return // the next start waits again
		case <-t.C:
		}
		o.reports.Lock()
		defer o.reports.Unlock()
		now, err := LoadCheckpoint(o.dir)
		if err != nil || now == nil || !now.RebootPending || now.Version != cp.Version {
			return // confirmed, failed or replaced meanwhile
		}
		msg := fmt.Sprintf("installed %s to run after a reboot, but the device still runs %s after %s (rolled back?)",
			cp.Version, o.Version(), o.cfg.ConfirmTimeout)
		o.fail(ctx, now, &Failure{Code: CodeInstallFailed, Msg: msg})
		o.discard(now)
	}()
}

// SetInstaller makes fn install verified images in place of the hook
// (feature.OTAAPI).
func (o *OTA) SetInstaller(fn feature.Installer) {
	o.mu.Lock()
	o.installer = fn
	o.mu.Unlock()
}

// manual is the state a manual report starts from: the update iotd runs
// (busy), the install waiting for its reboot (pending) and the install the
// program began (target).
func (o *OTA) manual(ctx context.Context) (busy string, pending *Checkpoint, target string, running bool) {
	select {
	case <-o.started:
	case <-ctx.Done():
		return "", nil, "", false
	}
	o.mu.Lock()
	if o.cur != nil {
		busy = o.cur.upd.Version
	}
	if o.st.State == StateBurning {
		target = o.st.TargetVersion // begun by the program
	}
	running = o.jobCtx.Err() == nil
	o.mu.Unlock()
	if cp, err := LoadCheckpoint(o.dir); err == nil && cp != nil && cp.RebootPending {
		pending = cp
	}
	return busy, pending, target, running
}

// errNotRunning: a manual report when ctx ended before Run started, or
// after Run returned.
var errNotRunning = fmt.Errorf("ota: %w", bus.ErrNotServing)

// Begin reports that the program starts installing version
// (feature.OTAAPI).
func (o *OTA) Begin(ctx context.Context, version string) error {
	if err := ValidateVersion(version); err != nil {
		return fmt.Errorf("ota: begin: %w", err)
	}
	o.reports.Lock()
	defer o.reports.Unlock()
	busy, _, _, running := o.manual(ctx)
	switch {
	case !running:
		return errNotRunning
	case busy != "":
		return fmt.Errorf("%w: iotd is installing %s and reports it itself", ErrBusy, busy)
	}
	o.mu.Lock()
	o.st.State, o.st.TargetVersion, o.st.Bytes, o.st.Percent, o.st.Updated = StateBurning, version, 0, 0, time.Now()
	o.st.ResultCode, o.st.LastError = 0, ""
	o.mu.Unlock()
	o.log.Info("OTA install begins (reported by the program)", "version", version)
	return o.publishErr(ctx, ProgressReport(version, Progress{State: "burning", ResultCode: "0"}), 1)
}

// Succeed reports version installed, or confirms the install waiting for
// its reboot (feature.OTAAPI).
func (o *OTA) Succeed(ctx context.Context, version string) error {
	o.reports.Lock()
	defer o.reports.Unlock()
	busy, pending, target, running := o.manual(ctx)
	version, err := o.manualVersion(version, busy, pending, target, running)
	if err != nil {
		return fmt.Errorf("ota: success: %w", err)
	}
	return o.installed(ctx, version)
}

// Fail reports that installing version failed (feature.OTAAPI).
func (o *OTA) Fail(ctx context.Context, version string, code int, msg string) error {
	if code == 0 {
		code = CodeInstallFailed
	}
	if code > 0 {
		return fmt.Errorf("ota: fail: result code %d: a failure's code is negative (-5: install failed)", code)
	}
	o.reports.Lock()
	defer o.reports.Unlock()
	busy, pending, target, running := o.manual(ctx)
	version, err := o.manualVersion(version, busy, pending, target, running)
	if err != nil {
		return fmt.Errorf("ota: fail: %w", err)
	}
	if msg == "" {
		msg = "install failed (reported by the program)"
	}
	cp := &Checkpoint{Version: version}
	if pending != nil && pending.Version == version {
		cp = pending
		o.discard(pending)
	}
	return o.fail(ctx, cp, &Failure{Code: code, Msg: msg})
}

// manualVersion checks the version a success or fail report names, or
// picks the install waiting for its reboot, else the update last begun.
func (o *OTA) manualVersion(version, busy string, pending *Checkpoint, target string, running bool) (string, error) {
	switch {
	case !running:
		return "", errNotRunning
	case busy != "":
		return "", fmt.Errorf("%w: iotd is installing %s and reports it itself", ErrBusy, busy)
	case version != "":
		return version, ValidateVersion(version)
	case pending != nil:
		return pending.Version, nil
	case target != "":
		return target, nil
	}
	return "", errors.New("no update to report: name the version")
}

// Status is the feature's state in wire types (feature.OTAAPI).
func (a otaAPI) Status() localapi.OTAStatus { return statusToWire(a.OTA.Status()) }

// otaAPI is *OTA as a feature.OTAAPI (its own Status returns the
// package's type).
type otaAPI struct{ *OTA }

var _ feature.OTAAPI = otaAPI{}
