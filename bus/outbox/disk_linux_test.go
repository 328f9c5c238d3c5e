//go:build linux

package outbox

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// smallFS mounts a tmpfs of size bytes for the test, or skips the test if
// this process may not mount.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("mounting a %s tmpfs to fill: %v (needs root or CAP_SYS_ADMIN)", size, err)
		}
		require.NoError(t, err)
	}
	t.Cleanup(func() { assert.NoError(t, unix.Unmount(dir, 0)) })
	return dir
}

// A full disk fails Append with ErrDisk and loses nothing; after removals
// Append works again.
func TestDiskFull(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval} {
		t.Run(string(policy), func(t *testing.T) {
			path := filepath.Join(smallFS(t, "2m"), "outbox.db")
			o := openT(t, path, Options{Sync: policy})
			payload := make([]byte, 40<<10)

			var stored []Meta
			var err error
			for range 200 {
				var m Meta
				if m, err = o.Append(context.Background(), "t", 1, payload); err != nil {
					break
				}
				stored = append(stored, m)
			}
			require.ErrorIs(t, err, ErrDisk, "the disk never filled")
			assert.ErrorContains(t, err, "no space left on device")
			require.NotEmpty(t, stored)
			t.Logf("%d messages of %d KiB fit; then: %v", len(stored), len(payload)>>10, err)
			assert.Equal(t, stored, o.Pending(), "a failed Append leaves the rest as it was")

			_, err = o.Append(context.Background(), "t", 1, payload)
			require.ErrorIs(t, err, ErrDisk, "still full, still usable")

			// bbolt needs a contiguous run of free pages for the record,
			// and frees pages only for later transactions: free half.
			half := len(stored) / 2
			require.NoError(t, o.Remove(seqs(stored[:half])...))
			m, err := o.Append(context.Background(), "t", 1, payload)
			require.NoError(t, err, "room was made by removals")
			want := append(stored[half:], m)
			assert.Equal(t, want, o.Pending())

			require.NoError(t, o.Close())
			o = openT(t, path, Options{Sync: policy})
			assert.Equal(t, want, o.Pending(), "everything appended is there after a reopen")
			for _, m := range want {
				p, err := o.Payload(m.Seq)
				require.NoError(t, err)
				assert.Len(t, p, len(payload))
			}
		})
	}
}
