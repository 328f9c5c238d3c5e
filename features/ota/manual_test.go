package ota

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/features/hook"
	"github.com/iotd/iotd/hubsim"
)

// restart runs a new OTA over the rig's state directory, as iotd started
// again (after a reboot) would.
func (r *rig) restart(t *testing.T, cfg Config, installer feature.Installer) (*OTA, func()) {
	t.Helper()
	r.stop()
	o, err := New(cfg, r.dev.Bus, r.pid, r.dn, Env{StateDir: r.dir, Transport: transport(t, r.hub)}, nil)
	require.NoError(t, err)
	o.SetInstaller(installer)
	r.ota = o
	stop := runFeature(t, o)
	r.stop = stop
	return o, stop
}

func states(s hubsim.OTADeviceStatus, version string) []string {
	var out []string
	for _, rep := range s.Reports {
		if rep.Type == "report_progress" && rep.Version == version && rep.State != "downloading" {
			out = append(out, rep.State)
		}
	}
	return out
}

// An installer set by the program replaces the hook: it gets the verified
// image, and its success is reported done with the new version.
func TestInstallerInstalls(t *testing.T) {
	cmd, hookLog := hookScript(t, 0)
	r := startRig(t, "POTAI00001", Config{Version: "1.0.0", Hook: hook.Config{Command: cmd}})
	var got []byte
	var img feature.FirmwareImage
	r.ota.SetInstaller(func(_ context.Context, i feature.FirmwareImage) error {
		img = i
		var err error
		got, err = os.ReadFile(i.File)
		return err
	})
	data, sum := randomFile(t, 100<<10)
	r.push(t, "2.0.0", data, hubsim.OTAPushRequest{})
	st := r.waitHub(t, "done", func(s hubsim.OTADeviceStatus) bool { return s.Version == "2.0.0" })
	assert.Equal(t, []string{"burning", "done"}, states(st, "2.0.0"))
	assert.Equal(t, data, got)
	assert.Equal(t, feature.FirmwareImage{File: img.File, Version: "2.0.0", MD5: sum, Size: int64(len(data))}, img)
	log, _ := os.ReadFile(hookLog)
	assert.Empty(t, string(log), "the installer replaces the hook")
	v, err := os.ReadFile(filepath.Join(r.dir, "ota", "version"))
	require.NoError(t, err)
	assert.Equal(t, "2.0.0\n", string(v))

	// An installer's error fails the update with -5 and its message.
	r.ota.SetInstaller(func(context.Context, feature.FirmwareImage) error { return errors.New("flash write failed at 0x4000") })
	r.push(t, "3.0.0", data, hubsim.OTAPushRequest{})
	st = r.waitHub(t, "fail", func(s hubsim.OTADeviceStatus) bool { return s.State == "fail" })
	assert.Equal(t, "-5", st.ResultCode)
	assert.Contains(t, st.ResultMsg, "installer failed for 3.0.0; version 2.0.0 stays: flash write failed at 0x4000")
	assert.Equal(t, "2.0.0", r.ota.Status().Version)
}

// An A/B install: the installer says the image runs after a reboot. The
// update waits; when iotd starts again on the new image (whose version
// file says so) it is done — no -5 for the reboot.
func TestRebootPendingConfirmedByVersion(t *testing.T) {
	image := filepath.Join(t.TempDir(), "image-version")
	require.NoError(t, os.WriteFile(image, []byte("1.0.0\n"), 0o600))
	cfg := Config{VersionFile: image}
	r := startRig(t, "POTAR00001", cfg)
	r.ota.SetInstaller(func(context.Context, feature.FirmwareImage) error { return feature.ErrRebootPending })
	data, _ := randomFile(t, 64<<10)
	r.push(t, "2.0.0", data, hubsim.OTAPushRequest{})
	waitStatus(t, r.ota, func(s Status) bool { return s.State == StateRebootPending })
	assert.Equal(t, []string{"burning"}, states(r.hub.OTA().DeviceStatus(r.ref()), "2.0.0"))
	assert.Equal(t, "1.0.0", r.ota.Status().Version, "not running yet")

	// The same update pushed again while the reboot is pending is not
	// downloaded again.
	served := r.hub.OTA().BytesServed()
	r.push(t, "2.0.0", data, hubsim.OTAPushRequest{})
	waitStatus(t, r.ota, func(s Status) bool { return s.Ignored == 1 })
	assert.Equal(t, served, r.hub.OTA().BytesServed())

	// The board reboots into the new image.
	require.NoError(t, os.WriteFile(image, []byte("2.0.0\n"), 0o600))
	o, _ := r.restart(t, cfg, nil)
	// The version report follows the done report (installed), so the hub
	// may show done a moment before it shows the new version.
	st := r.waitHub(t, "done on 2.0.0", func(s hubsim.OTADeviceStatus) bool { return s.State == "done" && s.Version == "2.0.0" })
	assert.Equal(t, []string{"burning", "done"}, states(st, "2.0.0"))
	assert.Equal(t, StateDone, o.Status().State)
	cp, err := LoadCheckpoint(filepath.Join(r.dir, "ota"))
	require.NoError(t, err)
	assert.Nil(t, cp, "the update is over")
}

// The board rolled back: after the restart the old version runs and
// nothing confirms the new one within confirm_timeout, so the update
// fails with -5, saying so.
func TestRebootPendingRolledBack(t *testing.T) {
	cmd, _ := hookScript(t, HookRebootPending)
	cfg := Config{Version: "1.0.0", Hook: hook.Config{Command: cmd}, ConfirmTimeout: 300 * time.Millisecond}
	r := startRig(t, "POTAR00002", cfg)
	data, _ := randomFile(t, 64<<10)
	r.push(t, "2.0.0", data, hubsim.OTAPushRequest{})
	waitStatus(t, r.ota, func(s Status) bool { return s.State == StateRebootPending })

	o, _ := r.restart(t, cfg, nil)
	st := r.waitHub(t, "fail", func(s hubsim.OTADeviceStatus) bool { return s.State == "fail" })
	assert.Equal(t, "-5", st.ResultCode)
	assert.Contains(t, st.ResultMsg, "installed 2.0.0 to run after a reboot, but the device still runs 1.0.0")
	assert.Equal(t, []string{"burning", "fail"}, states(st, "2.0.0"))
	assert.Equal(t, "1.0.0", o.Status().Version)
	cp, err := LoadCheckpoint(filepath.Join(r.dir, "ota"))
	require.NoError(t, err)
	assert.Nil(t, cp)
}

// The program confirms the install after its own health check: Succeed
// with no version confirms the pending one, records it and reports done.
func TestRebootPendingConfirmedByProgram(t *testing.T) {
	cfg := Config{Version: "1.0.0"}
	r := startRig(t, "POTAR00003", cfg)
	r.ota.SetInstaller(func(context.Context, feature.FirmwareImage) error {
		return fmt.Errorf("slot B written: %w", feature.ErrRebootPending)
	})
	data, _ := randomFile(t, 64<<10)
	r.push(t, "2.0.0", data, hubsim.OTAPushRequest{})
	waitStatus(t, r.ota, func(s Status) bool { return s.State == StateRebootPending })

	o, _ := r.restart(t, cfg, nil)
	waitStatus(t, o, func(s Status) bool { return s.State == StateRebootPending && s.TargetVersion == "2.0.0" })
	require.NoError(t, otaAPI{o}.Succeed(context.Background(), ""))
	// The version report follows the done report (installed), so the hub
	// may show done a moment before it shows the new version.
	r.waitHub(t, "done on 2.0.0", func(s hubsim.OTADeviceStatus) bool { return s.State == "done" && s.Version == "2.0.0" })
	assert.Equal(t, "2.0.0", otaAPI{o}.Status().Version)
	v, err := os.ReadFile(filepath.Join(r.dir, "ota", "version"))
	require.NoError(t, err)
	assert.Equal(t, "2.0.0\n", string(v))
	assert.Error(t, otaAPI{o}.Succeed(context.Background(), ""), "nothing left to confirm")
}

// A hook that reboots the board before it exits leaves "installing"
// behind; when the board comes back on the new version, that is success.
func TestInterruptedInstallOnNewVersion(t *testing.T) {
	image := filepath.Join(t.TempDir(), "image-version")
	require.NoError(t, os.WriteFile(image, []byte("1.0.0\n"), 0o600))
	cfg := Config{VersionFile: image}
	r := startRig(t, "POTAR00004", cfg)
	entered := make(chan struct{})
	r.ota.SetInstaller(func(ctx context.Context, _ feature.FirmwareImage) error {
		close(entered)
		<-ctx.Done() // the power goes before it returns
		return ctx.Err()
	})
	data, _ := randomFile(t, 64<<10)
	r.push(t, "2.0.0", data, hubsim.OTAPushRequest{})
	<-entered
	require.NoError(t, os.WriteFile(image, []byte("2.0.0\n"), 0o600))
	r.restart(t, cfg, nil)
	// The version report follows the done report (installed), so the hub
	// may show done a moment before it shows the new version.
	r.waitHub(t, "done on 2.0.0", func(s hubsim.OTADeviceStatus) bool { return s.State == "done" && s.Version == "2.0.0" })
}

// The program installs firmware it got another way and reports it as the
// C SDK's IOT_OTA_ReportUpgradeBegin/Success/Fail do.
func TestManualReports(t *testing.T) {
	r := startRig(t, "POTAM00001", Config{Version: "1.0.0"})
	api := otaAPI{r.ota}
	ctx := context.Background()

	require.NoError(t, api.Begin(ctx, "1.1.0"))
	assert.Equal(t, StateBurning, api.Status().State)
	require.NoError(t, api.Fail(ctx, "", 0, "flash verify failed"))
	st := r.waitHub(t, "fail", func(s hubsim.OTADeviceStatus) bool { return s.State == "fail" })
	assert.Equal(t, "-5", st.ResultCode)
	assert.Equal(t, "flash verify failed", st.ResultMsg)
	assert.Equal(t, "1.0.0", api.Status().Version)

	require.NoError(t, api.Begin(ctx, "1.2.0"))
	require.NoError(t, api.Succeed(ctx, "1.2.0"))
	st = r.waitHub(t, "done", func(s hubsim.OTADeviceStatus) bool { return s.Version == "1.2.0" })
	assert.Equal(t, []string{"burning", "done"}, states(st, "1.2.0"))
	assert.Equal(t, "1.2.0", api.Status().Version)

	assert.ErrorContains(t, api.Fail(ctx, "1.3.0", 2, ""), "negative")
	assert.ErrorContains(t, api.Begin(ctx, "bad version"), "version")
	require.NoError(t, api.Fail(ctx, "1.3.0", -4, "image signature"))
	st = r.waitHub(t, "fail", func(s hubsim.OTADeviceStatus) bool { return s.ResultCode == "-4" })
	assert.Equal(t, "-4", st.ResultCode)
}

// Manual reports are refused while iotd downloads an update itself, and
// before the feature runs.
func TestManualReportsRefused(t *testing.T) {
	hub := hubtestHub(t)
	require.NoError(t, hub.OTA().SetFaults(hubsim.OTAFaults{Rate: 64 << 10}))
	r := startRigOn(t, hub, "POTAM00002", Config{Version: "1.0.0"})
	idle, err := New(Config{Version: "1.0.0"}, r.dev.Bus, "P", "d", Env{StateDir: t.TempDir()}, nil)
	require.NoError(t, err)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, otaAPI{idle}.Begin(ended, "2.0.0"), bus.ErrNotServing)
	assert.ErrorIs(t, otaAPI{idle}.Succeed(ended, "2.0.0"), bus.ErrNotServing)

	data, _ := randomFile(t, 1<<20)
	r.push(t, "2.0.0", data, hubsim.OTAPushRequest{})
	waitStatus(t, r.ota, func(s Status) bool { return s.State == StateDownloading })
	api := otaAPI{r.ota}
	assert.ErrorIs(t, api.Begin(context.Background(), "3.0.0"), ErrBusy)
	assert.ErrorIs(t, api.Succeed(context.Background(), ""), ErrBusy)
	assert.ErrorIs(t, api.Fail(context.Background(), "", 0, ""), ErrBusy)
}
