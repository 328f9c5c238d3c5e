package ota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/internal/pki"
)

// States of an update, as shown by Status.
const (
	StateIdle        = "idle"
	StateDownloading = "downloading"
	StateBurning     = "burning"
	StateDone        = "done"
	StateFailed      = "failed"
	// StateRebootPending: installed, waiting for the device to run the new
	// version after a reboot.
	StateRebootPending = "reboot_pending"
)

// publishTimeout bounds one report publish.
const publishTimeout = 30 * time.Second

// Status is the feature's state for `iotd ota status`.
type Status struct {
	Disabled bool `json:"disabled,omitempty"`
	// Version is the current (installed) firmware version.
	Version string `json:"version"`
	State   string `json:"state"`
	// TargetVersion, URL, Size are the update in progress or last seen.
	TargetVersion string `json:"target_version,omitempty"`
	Size          int64  `json:"size,omitempty"`
	Bytes         int64  `json:"bytes"`
	Percent       int    `json:"percent"`
	// ResultCode and LastError describe the last failure.
	ResultCode int       `json:"result_code,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	Updated    time.Time `json:"updated,omitzero"`
	// Counters since start.
	Updates     int64 `json:"updates"`
	Installs    int64 `json:"installs"`
	Failures    int64 `json:"failures"`
	Ignored     int64 `json:"ignored"`
	BadMessages int64 `json:"bad_messages"`
}

// Env is what the daemon provides besides the configuration.
type Env struct {
	// StateDir is the daemon's state directory; Config.Dir and
	// Config.VersionFile default to places inside it.
	StateDir string
	// Transport performs the downloads (nil: http.DefaultTransport).
	Transport http.RoundTripper
}

// OTA is the firmware update feature. Create it with [New]; call Run once.
type OTA struct {
	cfg   Config
	bus   *bus.Bus
	log   *slog.Logger
	pid   string
	dn    string
	dir   string
	vfile string
	dl    *Downloader

	mu        sync.Mutex // guards st, cur, jobCtx and installer
	st        Status
	cur       *job
	jobCtx    context.Context
	installer feature.Installer
	started   chan struct{} // closed once Run set jobCtx
	wg        sync.WaitGroup

	// reports serialises the outcomes of an install — iotd's own, the
	// program's manual reports and the confirmation timeout — so that one
	// update ends once.
	reports sync.Mutex

	updates, installs, failures, ignored, bad atomic.Int64
}

type job struct {
	upd    Update
	cancel context.CancelFunc
	done   chan struct{}
}

// New prepares OTA for device pid/dn. log may be nil. New does no I/O.
func New(cfg Config, b *bus.Bus, productID, deviceName string, env Env, log *slog.Logger) (*OTA, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if b == nil {
		return nil, errors.New("ota: bus is required")
	}
	if productID == "" || deviceName == "" {
		return nil, errors.New("ota: product id and device name are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, vfile, err := Paths(cfg, env.StateDir)
	if err != nil {
		return nil, err
	}
	tr := env.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	o := &OTA{cfg: cfg, bus: b, log: log.With("feature", "ota"), pid: productID, dn: deviceName,
		dir: dir, vfile: vfile,
		dl: &Downloader{Client: &http.Client{Transport: tr}, CheckpointEvery: cfg.CheckpointEvery,
			StallTimeout: cfg.StallTimeout, Retries: cfg.Retries}}
	o.st = Status{State: StateIdle, Disabled: cfg.Disabled}
	o.started = make(chan struct{})
	return o, nil
}

// Dir is where the checkpoint and partial files live.
func (o *OTA) Dir() string { return o.dir }

// Run reports the version, resumes an interrupted download and serves
// update_firmware messages until ctx ends; it returns nil then, after the
// download in progress stopped (its checkpoint is kept).
func (o *OTA) Run(ctx context.Context) error {
	if o.cfg.Disabled {
		<-ctx.Done()
		return nil
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("ota: %w", err)
	}
	o.mu.Lock()
	o.st.Version = CurrentVersion(o.vfile, o.cfg.Version, o.log)
	o.jobCtx = ctx
	o.mu.Unlock()
	close(o.started)
	defer o.stopJob()
	defer o.wg.Wait()

	msgs, err := o.bus.CloudSubscribeWait(ctx, UpdateTopic(o.pid, o.dn), 1)
	if err != nil {
		return nil // ctx ended
	}
	o.log.Info("OTA ready", "version", o.Version(), "dir", o.dir, "hook", o.cfg.Hook.Enabled())
	o.goPublish(ctx, VersionReport(o.Version()), 1)
	o.resume(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			m.Ack()
			o.handle(ctx, m.Payload)
		}
	}
}

// resume continues a download a previous run left, or reports an install
// that was interrupted.
func (o *OTA) resume(ctx context.Context) {
	cp, err := LoadCheckpoint(o.dir)
	if err != nil {
		o.log.Warn("OTA checkpoint unusable; removed", "err", err)
		_ = removeCheckpoint(o.dir)
		return
	}
	if cp == nil {
		return
	}
	if cp.Failed {
		return // kept for a resume when the update is sent again
	}
	if cp.RebootPending {
		o.confirmAfterReboot(ctx, cp)
		return
	}
	if cp.Installing {
		if o.Version() == cp.Version {
			// The install rebooted the board before it could return, and
			// the new image says it runs.
			o.log.Info("OTA install confirmed: the device runs the new version", "version", cp.Version)
			_ = o.installed(ctx, cp.Version)
			return
		}
		msg := fmt.Sprintf("iotd stopped while the install ran for %s and the device still runs %s; the outcome is unknown, send the update again to retry", cp.Version, o.Version())
		o.fail(ctx, cp, &Failure{Code: CodeInstallFailed, Msg: msg})
		o.discard(cp)
		return
	}
	o.log.Info("OTA resuming an interrupted download", "version", cp.Version, "written", cp.Written, "size", cp.Size)
	o.start(cp)
}

// handle acts on one message from $ota/update.
func (o *OTA) handle(ctx context.Context, payload []byte) {
	u, ok, err := ParseUpdate(payload)
	if err != nil {
		o.bad.Add(1)
		o.log.Warn("OTA message ignored", "err", err)
		return
	}
	if !ok {
		return // report_version_rsp and other types
	}
	if !o.cfg.AllowHTTP && strings.HasPrefix(strings.ToLower(u.URL), "http:") {
		o.bad.Add(1)
		f := &Failure{Code: CodeForbidden, Msg: fmt.Sprintf("refused to download %s over plain http: firmware must come over https (set features.ota.allow_http to allow it)", redact(u.URL))}
		o.fail(ctx, &Checkpoint{Version: u.Version, Size: u.Size}, f)
		return
	}
	o.mu.Lock()
	cur := o.cur
	o.mu.Unlock()
	if cur != nil {
		if cur.upd.Version == u.Version {
			o.ignored.Add(1)
			o.log.Info("OTA update ignored: this version is already downloading", "version", u.Version)
			return
		}
		o.log.Info("OTA update replaces the one in progress", "old", cur.upd.Version, "new", u.Version)
		o.stopJob()
	}
	cp, err := LoadCheckpoint(o.dir)
	if err != nil {
		o.log.Warn("OTA checkpoint unusable; starting over", "err", err)
		cp = nil
	}
	if cp != nil && cp.RebootPending && cp.Version == u.Version {
		o.ignored.Add(1)
		o.log.Info("OTA update ignored: this version is installed and waits for the reboot that runs it", "version", u.Version)
		return
	}
	o.updates.Add(1)
	if cp != nil && cp.Version == u.Version && cp.MD5 == u.MD5 && cp.Size == u.Size && !cp.Installing {
		cp.URL, cp.Failed = u.URL, false // a refreshed signed URL
		o.log.Info("OTA resuming", "version", u.Version, "written", cp.Written)
	} else {
		if cp != nil {
			o.discard(cp)
		}
		cp = &Checkpoint{Version: u.Version, URL: u.URL, MD5: u.MD5, Size: u.Size,
			Partial: filepath.Join(o.dir, "firmware-"+u.Version+".part")}
		_ = os.Remove(cp.Partial)
	}
	if err := SaveCheckpoint(o.dir, cp); err != nil {
		o.fail(ctx, cp, diskFailure(cp, err))
		return
	}
	o.start(cp)
}

// start runs the download of cp on a job goroutine.
func (o *OTA) start(cp *Checkpoint) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ctx, cancel := context.WithCancel(o.jobCtx)
	j := &job{upd: cp.Update(), cancel: cancel, done: make(chan struct{})}
	o.cur = j
	o.st.State, o.st.TargetVersion, o.st.Size = StateDownloading, cp.Version, cp.Size
	o.st.Bytes, o.st.Percent = cp.Written, percent(cp.Written, cp.Size)
	o.st.ResultCode, o.st.LastError, o.st.Updated = 0, "", time.Now()
	o.log.Info("OTA downloading", "version", cp.Version, "size", cp.Size, "from_byte", cp.Written, "url", redact(cp.URL))
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		defer close(j.done)
		defer cancel()
		o.runJob(ctx, cp)
		o.mu.Lock()
		if o.cur == j {
			o.cur = nil
		}
		o.mu.Unlock()
	}()
}

// stopJob cancels the download in progress and waits for it.
func (o *OTA) stopJob() {
	o.mu.Lock()
	j := o.cur
	o.mu.Unlock()
	if j == nil {
		return
	}
	j.cancel()
	<-j.done
}

func (o *OTA) runJob(ctx context.Context, cp *Checkpoint) {
	ver := cp.Version
	var last time.Time
	report := func(pct int) {
		last = time.Now()
		o.publish(ctx, ProgressReport(ver, Progress{State: "downloading", Percent: strconv.Itoa(pct), ResultCode: "0"}), 0)
	}
	if cp.Written == 0 {
		report(0)
	} else {
		report(percent(cp.Written, cp.Size))
	}
	cps := NewCheckpointer(o.dir)
	defer cps.Close()
	save := cps.Save
	err := o.dl.Download(ctx, cp, save, func(n int64) {
		pct := percent(n, cp.Size)
		o.mu.Lock()
		o.st.Bytes, o.st.Percent, o.st.Updated = n, pct, time.Now()
		o.mu.Unlock()
		if pct < 100 && time.Since(last) >= time.Second {
			report(pct)
		}
	})
	if ctx.Err() != nil {
		return // replaced or shutting down; the checkpoint stays
	}
	var f *Failure
	if errors.As(err, &f) {
		if f.Code == CodeMD5Mismatch {
			o.discard(cp)
		} else {
			o.keepFailed(cp)
		}
		o.fail(ctx, cp, f)
		return
	}
	if err != nil {
		o.keepFailed(cp)
		o.fail(ctx, cp, &Failure{Code: CodeTimeout, Msg: err.Error(), Err: err})
		return
	}
	report(100)
	o.install(ctx, cp)
}

// install installs a verified file — with the program's installer, else
// the hook, else by keeping it as firmware.bin — and reports the outcome.
func (o *OTA) install(ctx context.Context, cp *Checkpoint) {
	cp.Installing = true
	if err := SaveCheckpoint(o.dir, cp); err != nil {
		o.fail(ctx, cp, diskFailure(cp, err))
		return
	}
	o.setState(StateBurning)
	o.publish(ctx, ProgressReport(cp.Version, Progress{State: "burning", ResultCode: "0"}), 1)
	img := Image{File: cp.Partial, Version: cp.Version, MD5: cp.MD5, Size: cp.Size}
	o.mu.Lock()
	installer := o.installer
	o.mu.Unlock()
	var err error
	what := "install"
	switch {
	case installer != nil:
		what = "installer"
		err = installer(ctx, feature.FirmwareImage(img))
	case o.cfg.Hook.Enabled():
		what = "install hook"
		err = rebootPending(RunHook(ctx, o.cfg.Hook, img, o.pid, o.dn, o.log))
	default:
		err = os.Rename(cp.Partial, filepath.Join(o.dir, "firmware.bin"))
	}
	if ctx.Err() != nil {
		return // shutting down: the next start reports the outcome
	}
	o.reports.Lock()
	defer o.reports.Unlock()
	if errors.Is(err, feature.ErrRebootPending) {
		_ = os.Remove(cp.Partial)
		o.awaitReboot(ctx, cp)
		return
	}
	if err != nil {
		o.fail(ctx, cp, &Failure{Code: CodeInstallFailed, Err: err,
			Msg: fmt.Sprintf("%s failed for %s; version %s stays: %v", what, cp.Version, o.Version(), err)})
		o.discard(cp)
		return
	}
	_ = os.Remove(cp.Partial)
	_ = o.installed(ctx, cp.Version)
}

// installed records version as the device's firmware and reports it done,
// ending the update. It returns the error of a report not sent.
func (o *OTA) installed(ctx context.Context, version string) error {
	if CurrentVersion(o.vfile, "", o.log) != version {
		if err := pki.WriteFileAtomic(o.vfile, []byte(version+"\n"), 0o600); err != nil {
			o.log.Warn("OTA could not record the new version; it is reported but reverts at restart", "file", o.vfile, "err", err)
		}
	}
	_ = removeCheckpoint(o.dir)
	o.installs.Add(1)
	o.mu.Lock()
	o.st.Version, o.st.TargetVersion, o.st.State, o.st.Percent, o.st.Updated = version, version, StateDone, 100, time.Now()
	o.st.ResultCode, o.st.LastError = 0, ""
	o.mu.Unlock()
	o.log.Info("OTA installed", "version", version)
	return errors.Join(
		o.publishErr(ctx, ProgressReport(version, Progress{State: "done", ResultCode: "0"}), 1),
		o.publishErr(ctx, VersionReport(version), 1))
}

// fail records and reports a failed update; it returns the error of a
// report not sent (also logged).
func (o *OTA) fail(ctx context.Context, cp *Checkpoint, f *Failure) error {
	o.failures.Add(1)
	o.mu.Lock()
	o.st.State, o.st.ResultCode, o.st.LastError, o.st.Updated = StateFailed, f.Code, f.Msg, time.Now()
	if cp.Version != "" {
		o.st.TargetVersion = cp.Version
	}
	o.mu.Unlock()
	o.log.Warn("OTA update failed", "version", cp.Version, "result_code", f.Code, "reason", f.Msg)
	return o.publishErr(ctx, ProgressReport(cp.Version, Progress{State: "fail", ResultCode: strconv.Itoa(f.Code), ResultMsg: f.Msg}), 1)
}

// keepFailed marks the checkpoint of a failed download so that a restart
// does not retry it on its own; the same update sent again resumes it.
func (o *OTA) keepFailed(cp *Checkpoint) {
	cp.Failed = true
	_ = SaveCheckpoint(o.dir, cp)
}

// discard removes a checkpoint and its partial file.
func (o *OTA) discard(cp *Checkpoint) {
	if cp.Partial != "" && filepath.Dir(cp.Partial) == o.dir {
		_ = os.Remove(cp.Partial)
	}
	_ = removeCheckpoint(o.dir)
}

func (o *OTA) setState(s string) {
	o.mu.Lock()
	o.st.State, o.st.Updated = s, time.Now()
	o.mu.Unlock()
}

// publish sends a report and logs a failure; reports are not retried here
// (the uplink queues QoS 1 publishes while offline).
func (o *OTA) publish(ctx context.Context, payload []byte, qos byte) {
	_ = o.publishErr(ctx, payload, qos)
}

// publishErr is publish returning the error too.
func (o *OTA) publishErr(ctx context.Context, payload []byte, qos byte) error {
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	err := o.bus.CloudPublish(pctx, ReportTopic(o.pid, o.dn), payload, qos)
	if err != nil && ctx.Err() == nil {
		o.log.Warn("OTA report not sent", "err", err)
	}
	if err != nil {
		return fmt.Errorf("ota: report not sent: %w", err)
	}
	return nil
}

func (o *OTA) goPublish(ctx context.Context, payload []byte, qos byte) {
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		o.publish(ctx, payload, qos)
	}()
}

// Version is the current firmware version ("" before Run read it).
func (o *OTA) Version() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st.Version
}

// Status returns the current state and counters.
func (o *OTA) Status() Status {
	o.mu.Lock()
	st := o.st
	o.mu.Unlock()
	st.Updates, st.Installs, st.Failures = o.updates.Load(), o.installs.Load(), o.failures.Load()
	st.Ignored, st.BadMessages = o.ignored.Load(), o.bad.Load()
	return st
}

func percent(n, size int64) int {
	if size <= 0 {
		return 0
	}
	return int(n * 100 / size)
}
