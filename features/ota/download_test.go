package ota

import (
	"context"
	"crypto/md5"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/hubsim"
)

func downloadRig(t *testing.T, size int) (*hubsim.Hub, *Downloader, *Checkpoint, []byte) {
	t.Helper()
	hub := hubtestHub(t)
	data, sum := randomFile(t, size)
	fw, err := hub.OTA().Upload("", "1.0.0", data)
	require.NoError(t, err)
	d := &Downloader{Client: &http.Client{Transport: transport(t, hub)}, CheckpointEvery: 16 << 10}
	cp := &Checkpoint{Version: "1.0.0", URL: fw.URL, MD5: sum, Size: int64(size),
		Partial: filepath.Join(t.TempDir(), "fw.part")}
	return hub, d, cp, data
}

// A full disk fails with a clear message and ErrDiskFull; /dev/full is a
// real file that answers every write with ENOSPC.
func TestDownloadDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full here")
	}
	_, d, cp, _ := downloadRig(t, 100<<10)
	cp.Partial = "/dev/full"
	err := d.Download(context.Background(), cp, func(*Checkpoint) error { return nil }, nil)
	var f *Failure
	require.ErrorAs(t, err, &f)
	assert.Equal(t, CodeInstallFailed, f.Code)
	assert.ErrorIs(t, err, ErrDiskFull)
	assert.Contains(t, f.Msg, "disk full")
	assert.Contains(t, f.Msg, "partial file is kept")
}

// A checkpoint whose hash state does not match its byte count makes the
// downloader re-hash the partial file; the result is still right.
func TestDownloadRehashesOnStaleState(t *testing.T) {
	hub, d, cp, data := downloadRig(t, 200<<10)
	require.NoError(t, os.WriteFile(cp.Partial, data[:100<<10], 0o600))
	h := md5.New()
	h.Write(data[:50<<10]) // a state for fewer bytes than Written
	cp.Written, cp.HashState = 100<<10, marshalHash(h)
	var saves int
	require.NoError(t, d.Download(context.Background(), cp, func(*Checkpoint) error { saves++; return nil }, nil))
	got, err := os.ReadFile(cp.Partial)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	assert.Equal(t, int64(100<<10), hub.OTA().BytesServed(), "only the missing half is fetched")
	assert.Equal(t, 7, saves, "a checkpoint per 16 KiB chunk")
}

// A partial file longer than the checkpoint (bytes written but not yet
// checkpointed when iotd died) is cut back to the checkpoint.
func TestDownloadTruncatesUncheckpointedTail(t *testing.T) {
	_, d, cp, data := downloadRig(t, 64<<10)
	garbage := append(append([]byte{}, data[:16<<10]...), make([]byte, 30<<10)...)
	require.NoError(t, os.WriteFile(cp.Partial, garbage, 0o600))
	h := md5.New()
	h.Write(data[:16<<10])
	cp.Written, cp.HashState = 16<<10, marshalHash(h)
	require.NoError(t, d.Download(context.Background(), cp, func(*Checkpoint) error { return nil }, nil))
	got, err := os.ReadFile(cp.Partial)
	require.NoError(t, err)
	assert.Equal(t, data, got)
}

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 10-19/20", 10, 20, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes */20", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, tot, ok := parseContentRange(tt.in)
			assert.Equal(t, tt.ok, ok)
			if ok {
				assert.Equal(t, tt.start, s)
				assert.Equal(t, tt.total, tot)
			}
		})
	}
}
