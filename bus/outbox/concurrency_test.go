package outbox

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Eight goroutines append while others read, remove, park and retry; under
// -race this checks the locking, and afterwards the file and memory agree.
func TestConcurrentUse(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	const writers, each = 8, 40

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  []uint64
		done = make(chan struct{})
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				m, err := o.Append(context.Background(), fmt.Sprintf("w%d", w), 1, fmt.Appendf(nil, "%d-%d", w, i))
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				got = append(got, m.Seq)
				mu.Unlock()
			}
		})
	}
	var readers sync.WaitGroup
	readers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			for _, m := range o.Pending() {
				if _, err := o.Payload(m.Seq); err != nil {
					assert.ErrorIs(t, err, ErrNotFound, "only a concurrent removal may take it away")
				}
			}
			_ = o.Usage()
		}
	})
	readers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			ms := o.Pending()
			if len(ms) < 3 {
				continue
			}
			assert.NoError(t, o.Remove(ms[0].Seq))
			_ = o.SetAttempts(ms[1].Seq, 1)
			if r, err := o.Park(ms[2].Seq, "test"); err == nil {
				_, err := o.Retry(r.Seq)
				if err != nil {
					assert.ErrorIs(t, err, ErrFull)
				}
			}
		}
	})
	wg.Wait()
	close(done)
	readers.Wait()

	require.Len(t, got, writers*each)
	slices.Sort(got)
	assert.Len(t, slices.Compact(got), writers*each, "no seq handed out twice")

	pending := o.Pending()
	require.True(t, slices.IsSortedFunc(pending, func(a, b Meta) int { return int(a.Seq - b.Seq) }))
	u := o.Usage()
	require.NoError(t, o.Close())
	o = openT(t, path, Options{})
	assert.Equal(t, pending, o.Pending(), "the file agrees with memory")
	u2 := o.Usage()
	assert.Equal(t, u.Messages, u2.Messages)
	assert.Equal(t, u.Bytes, u2.Bytes)
	assert.Equal(t, u.Dead, u2.Dead)
	assert.Equal(t, u.DeadBytes, u2.DeadBytes)
}

// Concurrent Appends share commits (and so fsyncs): fewer commits than
// messages. It counts commits, not time.
func TestGroupCommit(t *testing.T) {
	o := openT(t, tempPath(t), Options{Sync: SyncAlways})
	const writers, each = 8, 50
	before := o.commits.Load()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				_, err := o.Append(context.Background(), "t", 1, []byte("x"))
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	commits := o.commits.Load() - before
	t.Logf("%d appends in %d commits", writers*each, commits)
	assert.Less(t, commits, int64(writers*each))
	assert.Len(t, o.Pending(), writers*each)
}
