package ota

import (
	"context"
	"crypto/md5"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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

// After a power cut the bytes after the last fsync may be gone or garbage
// although a later checkpoint says they were written: restore notices, as
// they no longer hash to the saved state, and continues from the synced
// point; intact bytes are kept.
func TestRestoreVerifiesTheUnsyncedTail(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	partial := filepath.Join(dir, "fw.part")
	require.NoError(t, os.WriteFile(partial, data, 0o600))
	hashAt := func(n int) []byte {
		h := md5.New()
		h.Write(data[:n])
		return marshalHash(h)
	}
	cp := &Checkpoint{Version: "1.0", URL: "https://h/fw", MD5: strings.Repeat("0", 32), Size: 5000,
		Written: 3000, HashState: hashAt(3000), Synced: 1000, SyncedHashState: hashAt(1000), Partial: partial}

	_, at, err := restoreHash(cp)
	require.NoError(t, err)
	assert.Equal(t, int64(3000), at, "an intact tail is kept")

	data[2500] ^= 0xff // the power cut lost what was after the fsync
	require.NoError(t, os.WriteFile(partial, data, 0o600))
	h, at, err := restoreHash(cp)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), at, "a damaged tail is fetched again")
	assert.Equal(t, hashAt(1000), marshalHash(h))
}

// The fast record between two durable checkpoints wins when it is intact
// and belongs to the same download; a torn one is ignored.
func TestFastCheckpointRecord(t *testing.T) {
	dir := t.TempDir()
	partial := filepath.Join(dir, "fw.part")
	base := Checkpoint{Version: "1.0", URL: "https://h/fw", MD5: strings.Repeat("0", 32), Size: 5000, Partial: partial}
	durable := base
	durable.Written, durable.Synced = 1000, 1000
	require.NoError(t, SaveCheckpoint(dir, &durable))
	fast := base
	fast.Written, fast.Synced = 3000, 1000
	require.NoError(t, SaveCheckpoint(dir, &fast))

	got, err := LoadCheckpoint(dir)
	require.NoError(t, err)
	assert.Equal(t, int64(3000), got.Written)

	b, err := os.ReadFile(filepath.Join(dir, fastName))
	require.NoError(t, err)
	b[len(b)-3] ^= 0x20 // a torn write
	require.NoError(t, os.WriteFile(filepath.Join(dir, fastName), b, 0o600))
	got, err = LoadCheckpoint(dir)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), got.Written)

	// Another update's record never applies.
	other := fast
	other.Version = "2.0"
	require.NoError(t, SaveCheckpoint(dir, &other))
	got, err = LoadCheckpoint(dir)
	require.NoError(t, err)
	assert.Equal(t, "1.0", got.Version)
	assert.Equal(t, int64(1000), got.Written)
}

// A Checkpointer keeps the fast record's file open across saves: each save
// is found by LoadCheckpoint at once, a shorter record after a longer one
// reads back whole, a durable save removes the fast record and the next
// fast save makes it again.
func TestCheckpointerKeepsTheFastRecordOpen(t *testing.T) {
	dir := t.TempDir()
	base := Checkpoint{Version: "1.0", URL: "https://h/fw", MD5: strings.Repeat("0", 32), Size: 1 << 20,
		Partial: filepath.Join(dir, "fw.part"), HashState: make([]byte, 300)}
	k := NewCheckpointer(dir)
	defer k.Close()
	durable := base
	durable.Written, durable.Synced = 1000, 1000
	require.NoError(t, k.Save(&durable))
	for _, n := range []int64{2000, 3000, 4000} {
		c := base
		c.Written, c.Synced = n, 1000
		require.NoError(t, k.Save(&c))
		got, err := LoadCheckpoint(dir)
		require.NoError(t, err)
		assert.Equal(t, n, got.Written)
	}
	short := base
	short.HashState = nil // a shorter record over a longer one
	short.Written, short.Synced = 5000, 1000
	require.NoError(t, k.Save(&short))
	got, err := LoadCheckpoint(dir)
	require.NoError(t, err)
	assert.Equal(t, int64(5000), got.Written)

	synced := base
	synced.Written, synced.Synced = 6000, 6000
	require.NoError(t, k.Save(&synced))
	_, err = os.Stat(filepath.Join(dir, fastName))
	assert.True(t, os.IsNotExist(err), "the durable save removed the fast record")
	again := base
	again.Written, again.Synced = 7000, 6000
	require.NoError(t, k.Save(&again))
	got, err = LoadCheckpoint(dir)
	require.NoError(t, err)
	assert.Equal(t, int64(7000), got.Written)
}
