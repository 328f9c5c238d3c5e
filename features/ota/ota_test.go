package ota

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/features/hook"
	"github.com/iotd/iotd/hubsim"
)

func progressOf(reports []hubsim.OTAReport, version string) []hubsim.OTAReport {
	var out []hubsim.OTAReport
	for _, r := range reports {
		if r.Type == "report_progress" && r.Version == version {
			out = append(out, r)
		}
	}
	return out
}

func TestFullUpdate(t *testing.T) {
	cmd, hookLog := hookScript(t, 0)
	r := startRig(t, "POTA000001", Config{Version: "1.0.0", Hook: hook.Config{Command: cmd}})
	assert.Equal(t, "1.0.0", r.hub.OTA().DeviceStatus(r.ref()).Version)

	data, sum := randomFile(t, 3<<20)
	r.push(t, "1.1.0", data, hubsim.OTAPushRequest{})
	st := r.waitHub(t, "the new version", func(s hubsim.OTADeviceStatus) bool { return s.Version == "1.1.0" })

	prog := progressOf(st.Reports, "1.1.0")
	require.GreaterOrEqual(t, len(prog), 4)
	assert.Equal(t, "downloading", prog[0].State)
	assert.Equal(t, "0", prog[0].Percent, "the first progress report says 0")
	n := len(prog)
	assert.Equal(t, "100", prog[n-3].Percent, "the last progress report says 100")
	assert.Equal(t, "burning", prog[n-2].State)
	assert.Equal(t, "done", prog[n-1].State)
	assert.Equal(t, "0", prog[n-1].ResultCode)

	log, err := os.ReadFile(hookLog)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	require.Len(t, lines, 1, "the hook runs once")
	f := strings.Fields(lines[0])
	require.Len(t, f, 4)
	assert.Equal(t, filepath.Join(r.dir, "ota", "firmware-1.1.0.part"), f[0])
	assert.Equal(t, []string{"1.1.0", "1.1.0", sum}, f[1:])

	s := r.ota.Status()
	assert.Equal(t, "1.1.0", s.Version)
	assert.Equal(t, StateDone, s.State)
	assert.Equal(t, int64(1), s.Installs)
	_, err = os.Stat(filepath.Join(r.dir, "ota", checkpointName))
	assert.ErrorIs(t, err, os.ErrNotExist, "the checkpoint is gone after install")
	v, err := os.ReadFile(filepath.Join(r.dir, "ota", "version"))
	require.NoError(t, err)
	assert.Equal(t, "1.1.0\n", string(v))
	assert.LessOrEqual(t, r.hub.OTA().BytesServed(), int64(len(data)))
}

// The server closes the connection after 1 MiB: the download resumes with
// a Range request from the last checkpoint.
func TestResumeAfterServerClose(t *testing.T) {
	r := startRig(t, "POTA000002", Config{Version: "1.0.0"})
	data, _ := randomFile(t, 3<<20)
	require.NoError(t, r.hub.OTA().SetFaults(hubsim.OTAFaults{CloseAfter: 1 << 20}))
	r.push(t, "2.0.0", data, hubsim.OTAPushRequest{})
	r.waitHub(t, "the new version", func(s hubsim.OTADeviceStatus) bool { return s.Version == "2.0.0" })

	reqs := r.hub.OTA().Info().Requests
	require.Len(t, reqs, 2)
	assert.True(t, reqs[0].Cut)
	assert.Equal(t, "bytes=0-3145727", reqs[0].Range, "an inclusive range end")
	assert.Equal(t, fmt.Sprintf("bytes=%d-3145727", 1<<20), reqs[1].Range, "the resume starts where the cut happened")
	assert.Equal(t, 206, reqs[1].Status)
	assert.LessOrEqual(t, r.hub.OTA().BytesServed(), int64(len(data))+DefaultCheckpointEvery)
	got, err := os.ReadFile(filepath.Join(r.dir, "ota", "firmware.bin"))
	require.NoError(t, err)
	assert.Equal(t, data, got)
}

func TestFailures(t *testing.T) {
	hub := hubtestHub(t)
	tests := []struct {
		name     string
		faults   hubsim.OTAFaults
		req      hubsim.OTAPushRequest
		hookCode int
		wantCode string
		wantMsg  string
	}{
		{"not found", hubsim.OTAFaults{Status: 404}, hubsim.OTAPushRequest{}, 0, "-2", "404"},
		{"forbidden", hubsim.OTAFaults{Status: 403}, hubsim.OTAPushRequest{}, 0, "-3", "403"},
		{"md5 mismatch", hubsim.OTAFaults{}, hubsim.OTAPushRequest{MD5: strings.Repeat("ab", 16)}, 0, "-4", "MD5 mismatch"},
		{"hook fails", hubsim.OTAFaults{}, hubsim.OTAPushRequest{}, 2, "-5", "install hook failed"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, hub.OTA().SetFaults(tt.faults))
			t.Cleanup(func() { _ = hub.OTA().SetFaults(hubsim.OTAFaults{}) })
			cmd, hookLog := hookScript(t, tt.hookCode)
			r := startRigOn(t, hub, fmt.Sprintf("POTAF0000%d", i), Config{Version: "1.0.0", Hook: hook.Config{Command: cmd}})
			data, _ := randomFile(t, 200<<10)
			r.push(t, "9.9.9", data, tt.req)
			st := r.waitHub(t, "fail", func(s hubsim.OTADeviceStatus) bool { return s.State == "fail" })
			assert.Equal(t, tt.wantCode, st.ResultCode)
			assert.Contains(t, st.ResultMsg, tt.wantMsg)
			assert.NotEqual(t, "time_out", st.ResultMsg)
			assert.Equal(t, "1.0.0", st.Version, "the old version stays")
			assert.Equal(t, "1.0.0", r.ota.Status().Version)
			assert.Equal(t, StateFailed, r.ota.Status().State)
			for _, rep := range st.Reports {
				assert.NotEqual(t, "done", rep.State)
			}
			log, _ := os.ReadFile(hookLog)
			if tt.hookCode == 0 {
				assert.Empty(t, string(log), "nothing is installed")
			} else {
				assert.Equal(t, 1, strings.Count(string(log), "\n"))
			}
		})
	}
}

func TestHTTPRefused(t *testing.T) {
	r := startRig(t, "POTA000003", Config{Version: "1.0.0"})
	data, _ := randomFile(t, 1000)
	r.push(t, "1.2.0", data, hubsim.OTAPushRequest{URL: "http://127.0.0.1:1/firmware.bin"})
	st := r.waitHub(t, "fail", func(s hubsim.OTADeviceStatus) bool { return s.State == "fail" })
	assert.Equal(t, "-3", st.ResultCode)
	assert.Contains(t, st.ResultMsg, "allow_http")
	assert.Empty(t, r.hub.OTA().Info().Requests)
}

// The same version again while downloading is ignored; another version
// cancels the download and starts the new one from scratch.
func TestRepeatAndReplace(t *testing.T) {
	r := startRig(t, "POTA000004", Config{Version: "1.0.0"})
	require.NoError(t, r.hub.OTA().SetFaults(hubsim.OTAFaults{Rate: 2 << 20}))
	old, _ := randomFile(t, 4<<20)
	r.push(t, "3.0.0", old, hubsim.OTAPushRequest{})
	waitStatus(t, r.ota, func(s Status) bool { return s.State == StateDownloading && s.Bytes > 0 })
	_, err := r.hub.OTA().Push(r.ref(), hubsim.OTAPushRequest{Version: "3.0.0"})
	require.NoError(t, err)
	waitStatus(t, r.ota, func(s Status) bool { return s.Ignored == 1 })

	require.NoError(t, r.hub.OTA().SetFaults(hubsim.OTAFaults{}))
	next, _ := randomFile(t, 1<<20)
	r.push(t, "3.1.0", next, hubsim.OTAPushRequest{})
	r.waitHub(t, "the replacing version", func(s hubsim.OTADeviceStatus) bool { return s.Version == "3.1.0" })
	_, err = os.Stat(filepath.Join(r.dir, "ota", "firmware-3.0.0.part"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the replaced download's partial file is removed")
	got, err := os.ReadFile(filepath.Join(r.dir, "ota", "firmware.bin"))
	require.NoError(t, err)
	assert.Equal(t, next, got)
	assert.Equal(t, int64(1), r.ota.Status().Installs)
}

// A restart in the middle of a download resumes it from the checkpoint
// without waiting for the cloud, continuing the saved MD5 state.
func TestResumeAfterRestart(t *testing.T) {
	hub := hubtestHub(t)
	require.NoError(t, hub.OTA().SetFaults(hubsim.OTAFaults{Rate: 2 << 20}))
	r := startRigOn(t, hub, "POTA000005", Config{Version: "1.0.0"})
	data, _ := randomFile(t, 3<<20)
	r.push(t, "4.0.0", data, hubsim.OTAPushRequest{})
	waitStatus(t, r.ota, func(s Status) bool { return s.Bytes >= 512<<10 })
	r.stop()
	cp, err := LoadCheckpoint(filepath.Join(r.dir, "ota"))
	require.NoError(t, err)
	require.NotNil(t, cp)
	require.Positive(t, cp.Written)
	require.NoError(t, hub.OTA().SetFaults(hubsim.OTAFaults{}))

	o, err := New(Config{Version: "1.0.0"}, r.dev.Bus, r.pid, r.dn, Env{StateDir: r.dir, Transport: transport(t, hub)}, nil)
	require.NoError(t, err)
	stop := runFeature(t, o)
	defer stop()
	r.waitHub(t, "the new version", func(s hubsim.OTADeviceStatus) bool { return s.Version == "4.0.0" })
	got, err := os.ReadFile(filepath.Join(r.dir, "ota", "firmware.bin"))
	require.NoError(t, err)
	assert.Equal(t, data, got)
	reqs := hub.OTA().Info().Requests
	require.Len(t, reqs, 2)
	assert.True(t, strings.HasPrefix(reqs[1].Range, fmt.Sprintf("bytes=%d-", cp.Written)), reqs[1].Range)
	assert.LessOrEqual(t, hub.OTA().BytesServed(), int64(len(data))+256<<10)
}

func waitStatus(t *testing.T, o *OTA, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := o.Status()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out; status %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
