//go:build linux

package outbox

import (
	"bufio"
	"context"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// procStatus reads a "kB" field of /proc/self/status, in bytes.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err)
			return n << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// rss is VmRSS after the Go heap gave back what it could, so that what is
// left is mostly the mapping (RssFile) and live memory.
func rss(t *testing.T) (vm, file int64) {
	debug.FreeOSMemory()
	return procStatus(t, "VmRSS"), procStatus(t, "RssFile")
}

// Reading 180 MB of payloads through bbolt's mapping and removing them
// leaves RSS near where it started: the pages read are handed back.
func TestRSSAfterPayloadReads(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 180 MB")
	}
	const n, size = 200, 900 << 10
	type sample struct{ vm, file int64 }
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	// measure returns RSS at the start, after the appends, after reading
	// every payload, and after removing them all.
	measure := func(t *testing.T) [4]sample {
		var out [4]sample
		o := openT(t, tempPath(t), Options{Sync: SyncNever, MaxBytes: 1 << 30})
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(i)
		}
		out[0].vm, out[0].file = rss(t)
		var ms []Meta
		for range n {
			m, err := o.Append(context.Background(), "t", 1, payload)
			require.NoError(t, err)
			ms = append(ms, m)
		}
		out[1].vm, out[1].file = rss(t)
		for _, m := range ms {
			p, err := o.Payload(m.Seq)
			require.NoError(t, err)
			require.Len(t, p, size)
		}
		out[2].vm, out[2].file = rss(t)
		before := o.commits.Load()
		require.NoError(t, o.Remove(seqs(ms)...))
		// Wait for the writer to delete them from the file.
		require.Eventually(t, func() bool { return o.commits.Load() > before && !o.hasDeletes() }, 30*time.Second, time.Millisecond)
		out[3].vm, out[3].file = rss(t)
		t.Logf("VmRSS (RssFile) MiB: start %.1f (%.1f), after %d appends %.1f (%.1f), after reading them %.1f (%.1f), after removing them %.1f (%.1f)",
			mb(out[0].vm), mb(out[0].file), n, mb(out[1].vm), mb(out[1].file), mb(out[2].vm), mb(out[2].file), mb(out[3].vm), mb(out[3].file))
		return out
	}

	var without, with [4]sample
	t.Run("without-madvise", func(t *testing.T) {
		releaseEnabled = false
		defer func() { releaseEnabled = true }()
		without = measure(t)
	})
	t.Run("with-madvise", func(t *testing.T) {
		with = measure(t)
		// The mapping is what the release trims; VmRSS also holds the
		// heap, which the race detector's shadow memory inflates.
		for i, what := range []string{"appending", "reading", "removing"} {
			assert.Less(t, with[i+1].file, with[0].file+40<<20, "RssFile after %s %d MiB", what, n*size>>20)
			if !raceEnabled {
				assert.Less(t, with[i+1].vm, with[0].vm+40<<20, "VmRSS after %s %d MiB", what, n*size>>20)
			}
		}
	})
	t.Logf("VmRSS growth after reading every payload: %.1f MiB with madvise, %.1f MiB without",
		mb(with[2].vm-with[0].vm), mb(without[2].vm-without[0].vm))
}

// Draining a queue of large messages the way the uplink does (read the
// oldest payload, send it, remove it on PUBACK) keeps the mapping's
// resident pages small all along, not only after each release: deleting a
// record frees its pages without bbolt reading them or its neighbours.
func TestRSSWhileDraining(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 270 MB")
	}
	const n, size = 300, 900 << 10
	o := openT(t, tempPath(t), Options{Sync: SyncNever, MaxBytes: 1 << 30})
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i)
	}
	for range n {
		appendT(t, o, "t", payload)
	}
	o.release()
	_, base := rss(t)

	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if v := rssFile(); v > peak.Load() {
				peak.Store(v)
			}
		}
	})
	start := time.Now()
	for _, m := range o.Pending() {
		p, err := o.Payload(m.Seq)
		require.NoError(t, err)
		require.Len(t, p, size)
		require.NoError(t, o.Remove(m.Seq))
	}
	require.NoError(t, o.Close(), "writes the last removals")
	close(stop)
	wg.Wait()
	t.Logf("drained %d x %d KiB in %v; RssFile %.1f MiB before, peak %.1f MiB (+%.1f MiB)",
		n, size>>10, time.Since(start).Round(time.Millisecond), float64(base)/(1<<20), float64(peak.Load())/(1<<20), float64(peak.Load()-base)/(1<<20))
	assert.Less(t, peak.Load()-base, int64(16<<20), "RssFile grew while draining")
}

// rssFile is RssFile in bytes, 0 if it cannot be read (it runs off the
// test's goroutine, so it does not fail the test itself).
func rssFile() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}
