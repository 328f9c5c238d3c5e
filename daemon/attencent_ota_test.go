package daemon

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/features/ota"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/localapi"
)

// otaRig is iotd on channel at-tencent with features.ota on: a hook that
// logs its arguments, keeps a copy of the file and fails for 4.0.0.
type otaRig struct {
	*running
	hub     *hubsim.Hub
	modem   *atsim.Modem
	ref     hubsim.DeviceRef
	dir     string
	hookLog string
	copied  string
}

func startOTARig(t *testing.T, pid string, baud int) *otaRig {
	t.Helper()
	hub := startHub(t, nil)
	cas, err := hubtest.CAPool(hub)
	require.NoError(t, err)
	modem, err := atsim.Start(context.Background(), atsim.Config{Dialect: atsim.DialectTencent, Seed: 5, Baud: baud,
		Tencent: atsim.TencentConfig{Broker: hub.TLSAddr(), RootCAs: cas}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = modem.Close() })
	cfg := tencentConfig(t, hub, pid, modem.Path())
	dir := filepath.Dir(cfg.DeviceInfoPath())
	o := &otaRig{hub: hub, modem: modem, ref: hubsim.DeviceRef{ProductID: pid, DeviceName: "tc1"}, dir: dir,
		hookLog: filepath.Join(dir, "hook.log"), copied: filepath.Join(dir, "installed.bin")}
	script := `echo "$IOTD_FIRMWARE_VERSION $0 $1 $IOTD_FIRMWARE_MD5 $IOTD_FIRMWARE_SIZE" >> ` + o.hookLog +
		`; cp "$0" ` + o.copied + `; [ "$1" != 4.0.0 ] || { echo "flash refused" >&2; exit 3; }`
	extra := fmt.Sprintf("state_dir: state\nfeatures:\n  ota:\n    version: 1.0.0\n    hook: {command: [/bin/sh, -c, %q]}\n", script)
	p := filepath.Join(dir, "iotd.yaml")
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(extra)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	cfg, err = LoadConfig(p)
	require.NoError(t, err)
	o.running = startDaemon(t, cfg)
	o.hubVersion(t, "1.0.0")
	return o
}

// hubVersion waits for the hub to have the device's version v.
func (o *otaRig) hubVersion(t *testing.T, v string) {
	t.Helper()
	require.Eventually(t, func() bool { return o.hub.OTA().DeviceStatus(o.ref).Version == v }, 30*time.Second, 20*time.Millisecond,
		"the hub never saw version %s; it has %+v", v, o.hub.OTA().DeviceStatus(o.ref))
}

// push uploads image as version and pushes it, with md5 (the real one
// when empty).
func (o *otaRig) push(t *testing.T, version string, image []byte, md5 string) {
	t.Helper()
	_, err := o.hub.OTA().Upload("", version, image)
	require.NoError(t, err)
	_, err = o.hub.OTA().Push(o.ref, hubsim.OTAPushRequest{Version: version, MD5: md5})
	require.NoError(t, err)
}

// reportsSince returns the states of the report_progress messages after
// the first n reports, and whether a report_version of v followed.
func (o *otaRig) reportsSince(n int, v string) (states []string, versioned bool) {
	rs := o.hub.OTA().DeviceStatus(o.ref).Reports
	for _, r := range rs[min(n, len(rs)):] {
		switch r.Type {
		case "report_progress":
			states = append(states, r.State+r.ResultCode)
		case "report_version":
			versioned = versioned || r.Version == v
		}
	}
	return states, versioned
}

func (o *otaRig) status(t *testing.T) localapi.OTAStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := o.client.OTA(ctx)
	require.NoError(t, err)
	return st
}

func randomImage(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	copy(b[100:], "\r\nOK\r\n+TCREADFWDATA:9,\r\nready\r\n")
	sum := md5.Sum(b)
	return b, hex.EncodeToString(sum[:])
}

// OTA on channel at-tencent: the module downloads what hubsim pushes, iotd
// reads it into the OTA directory byte-exact, runs the hook with the MQTT
// path's arguments and environment, and the hub sees burning, done and the
// new version. A wrong MD5 fails in the module (no hook); a failing hook
// is reported as -5 with the version kept.
func TestDaemonOTAThroughTencentModule(t *testing.T) {
	o := startOTARig(t, "PTCOTA0001", 0)
	image, sum := randomImage(t, 50_000)
	before := len(o.hub.OTA().DeviceStatus(o.ref).Reports)
	o.push(t, "2.0.0", image, "")
	o.hubVersion(t, "2.0.0")
	states, versioned := o.reportsSince(before, "2.0.0")
	assert.True(t, versioned)
	assert.Equal(t, []string{"downloading0", "downloading0", "done0", "burning0", "done0"}, states,
		"the module's own reports, then iotd's burning and done")

	bin := filepath.Join(o.dir, "state", "ota", "firmware-2.0.0.bin")
	hookRuns, err := os.ReadFile(o.hookLog)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("2.0.0 %s 2.0.0 %s %d\n", bin, sum, len(image)), string(hookRuns))
	copied, err := os.ReadFile(o.copied)
	require.NoError(t, err)
	assert.Equal(t, image, copied, "the image arrives byte-exact")
	assert.NoFileExists(t, bin, "removed once installed, as the MQTT path does")
	vf := filepath.Join(o.dir, "state", "ota", "version")
	v, err := os.ReadFile(vf)
	require.NoError(t, err)
	assert.Equal(t, "2.0.0\n", string(v))
	fi, err := os.Stat(vf)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	st := o.status(t)
	assert.Equal(t, "2.0.0", st.Version)
	assert.Equal(t, ota.StateDone, st.State)
	assert.Equal(t, int64(len(image)), st.Bytes)
	assert.Equal(t, 100, st.Percent)
	assert.Equal(t, int64(1), st.Installs)

	t.Run("a wrong MD5", func(t *testing.T) {
		before := len(o.hub.OTA().DeviceStatus(o.ref).Reports)
		o.push(t, "3.0.0", image[:20_000], strings.Repeat("0", 32))
		require.Eventually(t, func() bool {
			s, again := o.reportsSince(before, "2.0.0")
			return again && len(s) > 0 && s[len(s)-1] == "fail-4"
		}, 30*time.Second, 20*time.Millisecond, "a fail report with -4, then the old version again")
		st := o.status(t)
		assert.Equal(t, ota.StateFailed, st.State)
		assert.Equal(t, ota.CodeMD5Mismatch, st.ResultCode)
		assert.Equal(t, "2.0.0", st.Version)
		runs, err := os.ReadFile(o.hookLog)
		require.NoError(t, err)
		assert.Equal(t, 1, strings.Count(string(runs), "\n"), "no hook run")
	})

	t.Run("a failing hook", func(t *testing.T) {
		before := len(o.hub.OTA().DeviceStatus(o.ref).Reports)
		o.push(t, "4.0.0", image[:30_000], "")
		require.Eventually(t, func() bool {
			s, again := o.reportsSince(before, "2.0.0")
			return again && len(s) > 0 && s[len(s)-1] == "fail-5"
		}, 30*time.Second, 20*time.Millisecond, "a fail report with -5, then the old version again")
		s, _ := o.reportsSince(before, "")
		assert.Equal(t, []string{"done0", "burning0", "fail-5"}, s[len(s)-3:])
		st := o.status(t)
		assert.Equal(t, ota.StateFailed, st.State)
		assert.Equal(t, ota.CodeInstallFailed, st.ResultCode)
		assert.Contains(t, st.LastError, "install hook failed for 4.0.0; version 2.0.0 stays")
		assert.Equal(t, "2.0.0", st.Version)
		assert.Equal(t, "2.0.0", o.hub.OTA().DeviceStatus(o.ref).Version)
		assert.Contains(t, o.log.String(), "flash refused", "the hook's stderr is logged")
	})
}

// The module reboots while iotd reads the image (a slow line, so the
// read is under way): the read fails saying so, is done again from the
// start, and the install completes with the exact image.
func TestDaemonOTAThroughTencentModuleRebootMidRead(t *testing.T) {
	o := startOTARig(t, "PTCOTA0002", 230400)
	image, _ := randomImage(t, 60_000)
	o.push(t, "2.0.0", image, "")
	require.Eventually(t, func() bool {
		st := o.status(t)
		return st.TargetVersion == "2.0.0" && st.Bytes > 0
	}, 30*time.Second, 5*time.Millisecond, "the read never started")
	o.modem.Reboot()
	o.hubVersion(t, "2.0.0")
	copied, err := os.ReadFile(o.copied)
	require.NoError(t, err)
	assert.Equal(t, image, copied)
	logs := o.log.String()
	assert.Contains(t, logs, "reading it again from the start")
	assert.Contains(t, logs, "rebooted")
	assert.Equal(t, ota.StateDone, o.status(t).State)
}
