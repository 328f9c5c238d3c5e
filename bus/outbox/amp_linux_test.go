//go:build linux

package outbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// procIO reads a field of /proc/self/io: wchar counts the bytes the process
// handed to write(2) and pwrite(2), which is what bbolt writes to its file.
func procIO(b testing.TB, field string) int64 {
	b.Helper()
	f, err := os.Open("/proc/self/io")
	if err != nil {
		b.Skipf("no /proc/self/io: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+": "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Skipf("no %s in /proc/self/io", field)
	return 0
}

// BenchmarkWriteAmplification appends b.N messages one commit each, then
// removes them oldest first, one commit each (the drain after PUBACKs at
// its most expensive), and reports the bytes written to the file per
// payload byte for each phase: the flash wear a message costs. Run it with
// a fixed count, e.g. -benchtime=1000x.
func BenchmarkWriteAmplification(b *testing.B) {
	for _, size := range []int{256, 16 << 10, 900 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			path := tempPath(b)
			o, err := Open(path, Options{Sync: SyncNever, SyncInterval: time.Millisecond, MaxMessages: 1 << 30, MaxBytes: 1 << 40})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			payload := make([]byte, size)
			for i := range payload {
				payload[i] = byte(i)
			}
			total := float64(b.N) * float64(size)

			w0 := procIO(b, "wchar")
			b.ResetTimer()
			ms := make([]Meta, 0, b.N)
			for range b.N {
				m, err := o.Append(context.Background(), "prod/dev/up", 1, payload)
				if err != nil {
					b.Fatal(err)
				}
				ms = append(ms, m)
			}
			w1 := procIO(b, "wchar")
			for _, m := range ms {
				before := o.commits.Load()
				if err := o.Remove(m.Seq); err != nil {
					b.Fatal(err)
				}
				for o.commits.Load() == before || o.hasDeletes() {
					time.Sleep(50 * time.Microsecond)
				}
			}
			b.StopTimer()
			w2 := procIO(b, "wchar")
			b.ReportMetric(float64(w1-w0)/total, "append-written/B")
			b.ReportMetric(float64(w2-w1)/total, "remove-written/B")
			b.ReportMetric(float64(fileSize(path))/total, "file/B")
		})
	}
}

// Appending a large message writes it about once, not again with the
// messages stored beside it (with every record a plain value bbolt rewrote
// a leaf of up to four of them per Append: 4.5 bytes per payload byte).
func TestAppendWritesLargeRecordOnce(t *testing.T) {
	const n, size = 20, 900 << 10
	o := openT(t, tempPath(t), Options{Sync: SyncNever, MaxBytes: 1 << 30})
	payload := make([]byte, size)
	w0 := procIO(t, "wchar")
	for range n {
		appendT(t, o, "t", payload)
	}
	ratio := float64(procIO(t, "wchar")-w0) / (n * size)
	t.Logf("%d appends of %d KiB wrote %.3f bytes per payload byte", n, size>>10, ratio)
	assert.Less(t, ratio, 1.2)
}
