package ota

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/internal/pki"
)

// moduleOTA is OTA on channel at-tencent (feature.Caps.Firmware). The host has no network there,
// so the module downloads the image, checks its MD5 and reports progress
// and "done" to the hub itself; iotd then reads the image out of the
// module into features.ota's directory, checks the MD5 again (a serial
// line can corrupt what the module verified), runs features.hook as
// the OTA feature does, and reports burning and the outcome through the
// bus as the MQTT path does. The new version is reported by the module
// (AT+TCOTASET), which also turns its OTA task on again for the next
// update.
type moduleOTA struct {
	cfg        Config // with defaults
	up         feature.FirmwareModule
	bus        *bus.Bus
	pid, dn    string
	dir, vfile string
	log        *slog.Logger

	mu sync.Mutex
	st Status
}

// newModuleOTA builds the module's OTA from features.ota; ca_file and
// http_driver do not apply (the module downloads with its own trust).
func newModuleOTA(cfg Config, env *feature.Env) (*moduleOTA, error) {
	cfg.VersionFile, cfg.Dir = env.Path(cfg.VersionFile), env.Path(cfg.Dir)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir, vfile, err := Paths(cfg, env.StateDir)
	if err != nil {
		return nil, err
	}
	return &moduleOTA{cfg: cfg.WithDefaults(), up: env.Caps.Firmware, bus: env.Bus, pid: env.Device.ProductID, dn: env.Device.DeviceName,
		dir: dir, vfile: vfile, log: env.Log.With("feature", "ota", "through", "module"),
		st: Status{State: StateIdle}}, nil
}

// Run reports the version through the module and installs what it
// downloads, until ctx ends.
func (m *moduleOTA) Run(ctx context.Context) error {
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return fmt.Errorf("ota: %w", err)
	}
	v := CurrentVersion(m.vfile, m.cfg.Version, m.log)
	m.update(func(st *Status) { st.Version = v })
	m.log.Info("OTA ready: the module downloads, iotd installs", "version", v, "dir", m.dir, "hook", m.cfg.Hook.Enabled())
	m.up.SetVersion(v)
	for ev := range m.up.Events(ctx) {
		m.handle(ctx, ev)
	}
	return nil
}

func (m *moduleOTA) handle(ctx context.Context, ev feature.FirmwareEvent) {
	switch ev.Kind {
	case feature.FirmwareDownloading:
		m.log.Info("OTA: the module is downloading an update")
		m.update(func(st *Status) {
			st.Updates++
			st.State, st.TargetVersion, st.Size, st.Bytes, st.Percent = StateDownloading, "", 0, 0, 0
			st.ResultCode, st.LastError = 0, ""
		})
	case feature.FirmwareFailed:
		code := CodeInstallFailed
		if ev.Code == 205 {
			code = CodeMD5Mismatch
		}
		msg := fmt.Sprintf("the module's download failed (+TCOTASTATUS:UPDATEFAIL,%d): %s; the module reported it to the hub", ev.Code, ev.Reason)
		m.failed(code, msg)
		m.up.SetVersion(m.version())
	case feature.FirmwareDownloaded:
		m.install(ctx)
	}
}

// errRefused marks an image iotd will not take: reading it again would not
// help.
var errRefused = errors.New("ota: image refused")

// install reads, verifies and installs the image the module downloaded,
// and reports the outcome.
func (m *moduleOTA) install(ctx context.Context) {
	img, err := m.readImage(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		var f *Failure
		if !errors.As(err, &f) {
			f = &Failure{Code: CodeInstallFailed, Msg: err.Error(), Err: err}
		}
		m.fail(ctx, img.Version, f)
		m.up.SetVersion(m.version())
		return
	}
	m.update(func(st *Status) { st.State = StateBurning })
	m.publish(ctx, ProgressReport(img.Version, Progress{State: "burning", ResultCode: "0"}))
	if m.cfg.Hook.Enabled() {
		err := RunHook(ctx, m.cfg.Hook, img, m.pid, m.dn, m.log)
		if ctx.Err() != nil {
			return // shutting down; the file stays, the outcome is unknown
		}
		_ = os.Remove(img.File)
		if err != nil {
			m.fail(ctx, img.Version, &Failure{Code: CodeInstallFailed, Err: err,
				Msg: fmt.Sprintf("install hook failed for %s; version %s stays: %v", img.Version, m.version(), err)})
			m.up.SetVersion(m.version())
			return
		}
	} else {
		_ = os.Rename(img.File, filepath.Join(m.dir, "firmware.bin"))
	}
	if err := pki.WriteFileAtomic(m.vfile, []byte(img.Version+"\n"), 0o600); err != nil {
		m.log.Warn("OTA could not record the new version; it is reported but reverts at restart", "file", m.vfile, "err", err)
	}
	m.update(func(st *Status) {
		st.Installs++
		st.Version, st.State, st.Percent = img.Version, StateDone, 100
	})
	m.log.Info("OTA installed", "version", img.Version)
	m.publish(ctx, ProgressReport(img.Version, Progress{State: "done", ResultCode: "0"}))
	m.up.SetVersion(img.Version) // the module reports it, and listens again
}

// readImage reads the image, once more from the start if the first read
// failed (the module rebooted, a chunk was lost or corrupted).
func (m *moduleOTA) readImage(ctx context.Context) (Image, error) {
	img, err := m.readOnce(ctx)
	if err == nil || ctx.Err() != nil || errors.Is(err, errRefused) {
		return img, err
	}
	m.log.Warn("OTA: reading the image from the module failed; reading it again from the start", "err", err)
	return m.readOnce(ctx)
}

// readOnce reads the image into {dir}/firmware-VERSION.part (0600), checks
// its size and MD5 against AT+TCFWINFO?, fsyncs it and renames it to
// firmware-VERSION.bin, which the hook gets.
func (m *moduleOTA) readOnce(ctx context.Context) (Image, error) {
	var (
		f    *os.File
		part string
		h    hash.Hash
	)
	info, err := m.up.Read(ctx, func(fi feature.FirmwareInfo) (io.Writer, error) {
		if err := ValidateVersion(fi.Version); err != nil {
			return nil, fmt.Errorf("%w: the module's image has version %w", errRefused, err)
		}
		if int64(fi.Size) > MaxFileSize {
			return nil, fmt.Errorf("%w: the module's image is %d bytes, over the %d iotd takes", errRefused, fi.Size, int64(MaxFileSize))
		}
		m.update(func(st *Status) {
			st.TargetVersion, st.Size, st.Bytes, st.Percent = fi.Version, int64(fi.Size), 0, 0
		})
		part = filepath.Join(m.dir, "firmware-"+fi.Version+".part")
		var err error
		if f, err = os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return nil, err
		}
		h = md5.New()
		return io.MultiWriter(f, h, progress{m}), nil
	})
	img := Image{Version: info.Version, MD5: info.MD5, Size: int64(info.Size)}
	if img.Version == "" { // failed before AT+TCFWINFO? answered
		img.Version = cmp.Or(m.target(), m.version())
	}
	if f == nil {
		return img, err
	}
	if err == nil {
		if sum := hex.EncodeToString(h.Sum(nil)); sum != info.MD5 {
			err = &Failure{Code: CodeMD5Mismatch,
				Msg: fmt.Sprintf("MD5 mismatch: the %d bytes read from the module hash to %s, AT+TCFWINFO? says %s (a corrupted serial read?)", info.Size, sum, info.MD5)}
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	img.File = filepath.Join(m.dir, "firmware-"+info.Version+".bin")
	if err == nil {
		err = os.Rename(part, img.File)
	}
	if err != nil {
		_ = os.Remove(part)
	}
	return img, err
}

// progress counts the bytes read into the status.
type progress struct{ m *moduleOTA }

func (p progress) Write(b []byte) (int, error) {
	p.m.update(func(st *Status) {
		st.Bytes += int64(len(b))
		if st.Size > 0 {
			st.Percent = int(st.Bytes * 100 / st.Size)
		}
	})
	return len(b), nil
}

// fail records a failed install and reports it to the hub.
func (m *moduleOTA) fail(ctx context.Context, version string, f *Failure) {
	m.failed(f.Code, f.Msg)
	m.publish(ctx, ProgressReport(version, Progress{State: "fail", ResultCode: strconv.Itoa(f.Code), ResultMsg: f.Msg}))
}

// failed records a failure the hub already knows of, or is told of.
func (m *moduleOTA) failed(code int, msg string) {
	m.update(func(st *Status) {
		st.Failures++
		st.State, st.ResultCode, st.LastError = StateFailed, code, msg
	})
	m.log.Warn("OTA update failed", "result_code", code, "reason", msg)
}

// publish sends a report through the module; QoS 1 as the OTA feature's
// burning, done and fail reports.
func (m *moduleOTA) publish(ctx context.Context, payload []byte) {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.bus.CloudPublish(pctx, ReportTopic(m.pid, m.dn), payload, 1); err != nil && ctx.Err() == nil {
		m.log.Warn("OTA report not sent", "err", err)
	}
}

func (m *moduleOTA) update(f func(*Status)) {
	m.mu.Lock()
	f(&m.st)
	m.st.Updated = time.Now()
	m.mu.Unlock()
}

func (m *moduleOTA) version() string { return m.Status().Version }
func (m *moduleOTA) target() string  { return m.Status().TargetVersion }

// Status returns the state for `iotd ota status`.
func (m *moduleOTA) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}
