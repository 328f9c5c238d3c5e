// Package outboxtest is the contract of outbox.Store as tests: one table
// that every implementation (the bbolt file, the JetStream stream) runs, so
// that the uplink can rely on the same guarantees whichever it is given.
package outboxtest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus/outbox"
)

// Opener opens the store under test with opts. Within one test every call
// opens the same data (the same file or stream), so that a test can close
// the store and open it again as a restarted iotd would.
type Opener func(t *testing.T, opts outbox.Options) (outbox.Store, error)

// Run runs the contract tests. fresh returns an Opener of a new, empty
// place for each test.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			open := fresh(t)
			tc.run(t, func(opts outbox.Options) outbox.Store {
				t.Helper()
				s, err := open(t, opts)
				require.NoError(t, err)
				t.Cleanup(func() { _ = s.Close() })
				return s
			})
		})
	}
}

type opener func(opts outbox.Options) outbox.Store

var cases = []struct {
	name string
	run  func(t *testing.T, open opener)
}{
	{"AppendOrderAndPayload", appendOrderAndPayload},
	{"ReopenKeepsPendingAndAttempts", reopenKeepsPending},
	{"RemoveIsIdempotentAndLasts", removeLasts},
	{"RemoveOldestSkips", removeOldestSkips},
	{"BoundsRefuseWholeBatch", boundsRefuse},
	{"ParkRetryDrop", parkRetryDrop},
	{"DeadLetterBound", deadLetterBound},
	{"NotFound", notFound},
	{"Closed", closed},
	{"SeqNeverReused", seqNeverReused},
	{"ConcurrentAppends", concurrentAppends},
}

var ctx = context.Background()

func msgs(topic string, from, n int) []outbox.Message {
	out := make([]outbox.Message, n)
	for i := range out {
		out[i] = outbox.Message{Topic: topic, QoS: 1, Payload: fmt.Appendf(nil, "m%d", from+i)}
	}
	return out
}

func seqs(ms []outbox.Meta) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func payloads(t *testing.T, s outbox.Store) []string {
	t.Helper()
	var out []string
	for _, m := range s.Pending() {
		p, err := s.Payload(m.Seq)
		require.NoError(t, err, "seq %d", m.Seq)
		out = append(out, string(p))
	}
	return out
}

func appendOrderAndPayload(t *testing.T, open opener) {
	s := open(outbox.Options{})
	a, err := s.AppendBatch(ctx, msgs("t/a", 0, 3))
	require.NoError(t, err)
	b, err := s.AppendBatch(ctx, msgs("t/b", 3, 2))
	require.NoError(t, err)
	all := append(a, b...)
	require.Len(t, all, 5)
	assert.True(t, slices.IsSorted(seqs(all)))
	assert.Len(t, slices.Compact(seqs(all)), 5, "seqs are distinct")
	assert.Equal(t, seqs(all), seqs(s.Pending()))
	for i, m := range s.Pending() {
		assert.Equal(t, all[i].Topic, m.Topic)
		assert.Equal(t, byte(1), m.QoS)
		assert.Equal(t, 2, m.Size)
		assert.Zero(t, m.Attempts)
		assert.False(t, m.Accepted.IsZero())
	}
	assert.Equal(t, []string{"m0", "m1", "m2", "m3", "m4"}, payloads(t, s))
	u := s.Usage()
	assert.Equal(t, 5, u.Messages)
	assert.Equal(t, int64(3*(3+2)+2*(3+2)), u.Bytes)
	assert.Equal(t, outbox.DefaultMaxMessages, u.MaxMessages)
	assert.Equal(t, int64(outbox.DefaultMaxBytes), u.MaxBytes)
	got, err := s.AppendBatch(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, got)
}

func reopenKeepsPending(t *testing.T, open opener) {
	s := open(outbox.Options{})
	ms, err := s.AppendBatch(ctx, msgs("t/x", 0, 4))
	require.NoError(t, err)
	require.NoError(t, s.SetAttempts(ms[1].Seq, 2))
	require.NoError(t, s.SetAttempts(ms[1].Seq, 3)) // the last one counts
	require.NoError(t, s.SetAttempts(ms[2].Seq, 1))
	assert.Equal(t, 3, s.Pending()[1].Attempts)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close")

	s = open(outbox.Options{})
	p := s.Pending()
	assert.Equal(t, seqs(ms), seqs(p))
	assert.Equal(t, []int{0, 3, 1, 0}, []int{p[0].Attempts, p[1].Attempts, p[2].Attempts, p[3].Attempts})
	assert.Equal(t, "t/x", p[3].Topic)
	assert.Equal(t, 2, p[0].Size)
	assert.Equal(t, byte(1), p[0].QoS)
	assert.Equal(t, int64(4*(3+2)), s.Usage().Bytes, "sizes are known again without reading the payloads")
	assert.Equal(t, ms[0].Accepted.UnixMilli(), p[0].Accepted.UnixMilli())
	assert.Equal(t, []string{"m0", "m1", "m2", "m3"}, payloads(t, s))
}

func removeLasts(t *testing.T, open opener) {
	s := open(outbox.Options{})
	ms, err := s.AppendBatch(ctx, msgs("t/r", 0, 5))
	require.NoError(t, err)
	require.NoError(t, s.SetAttempts(ms[3].Seq, 1))
	require.NoError(t, s.Remove(ms[0].Seq, ms[1].Seq, ms[3].Seq))
	require.NoError(t, s.Remove(ms[0].Seq), "a repeated Remove")
	require.NoError(t, s.Remove(1<<60), "an unknown Seq")
	assert.Equal(t, []uint64{ms[2].Seq, ms[4].Seq}, seqs(s.Pending()))
	_, err = s.Payload(ms[0].Seq)
	require.ErrorIs(t, err, outbox.ErrNotFound)
	assert.Equal(t, 2, s.Usage().Messages)
	require.NoError(t, s.Close())

	s = open(outbox.Options{})
	assert.Equal(t, []uint64{ms[2].Seq, ms[4].Seq}, seqs(s.Pending()))
	assert.Equal(t, []string{"m2", "m4"}, payloads(t, s))
}

func removeOldestSkips(t *testing.T, open opener) {
	s := open(outbox.Options{})
	ms, err := s.AppendBatch(ctx, msgs("t/o", 0, 5))
	require.NoError(t, err)
	gone, err := s.RemoveOldest(2, func(seq uint64) bool { return seq == ms[0].Seq })
	require.NoError(t, err)
	assert.Equal(t, []uint64{ms[1].Seq, ms[2].Seq}, seqs(gone))
	assert.Equal(t, []uint64{ms[0].Seq, ms[3].Seq, ms[4].Seq}, seqs(s.Pending()))
	gone, err = s.RemoveOldest(0, nil)
	require.NoError(t, err)
	assert.Empty(t, gone)
	require.NoError(t, s.Close())
	s = open(outbox.Options{})
	assert.Equal(t, []uint64{ms[0].Seq, ms[3].Seq, ms[4].Seq}, seqs(s.Pending()))
}

func boundsRefuse(t *testing.T, open opener) {
	s := open(outbox.Options{MaxMessages: 3, MaxBytes: 100})
	_, err := s.AppendBatch(ctx, msgs("t/f", 0, 2))
	require.NoError(t, err)
	_, err = s.AppendBatch(ctx, msgs("t/f", 2, 2))
	require.ErrorIs(t, err, outbox.ErrFull)
	assert.Contains(t, err.Error(), "outbox.max_messages")
	assert.Len(t, s.Pending(), 2, "nothing of a refused batch is stored")
	_, err = s.AppendBatch(ctx, []outbox.Message{{Topic: "t/f", QoS: 1, Payload: make([]byte, 100)}})
	require.ErrorIs(t, err, outbox.ErrFull)
	assert.Contains(t, err.Error(), "outbox.max_bytes")
	ms, err := s.AppendBatch(ctx, msgs("t/f", 2, 1))
	require.NoError(t, err)
	u := s.Usage()
	assert.Equal(t, 3, u.Messages)
	assert.Equal(t, 3, u.MaxMessages)
	assert.Equal(t, int64(100), u.MaxBytes)

	// Retry past a bound is refused too.
	_, err = s.Park(ms[0].Seq, "poison")
	require.NoError(t, err)
	_, err = s.AppendBatch(ctx, msgs("t/f", 3, 1))
	require.NoError(t, err)
	_, err = s.Retry(ms[0].Seq)
	require.ErrorIs(t, err, outbox.ErrFull)
	dead, err := s.Dead()
	require.NoError(t, err)
	assert.Len(t, dead, 1, "a refused Retry leaves the dead letter")
	require.NoError(t, s.Close())
	s = open(outbox.Options{MaxMessages: 3, MaxBytes: 100})
	assert.Len(t, s.Pending(), 3)
}

func parkRetryDrop(t *testing.T, open opener) {
	s := open(outbox.Options{})
	ms, err := s.AppendBatch(ctx, msgs("t/p", 0, 4))
	require.NoError(t, err)
	require.NoError(t, s.SetAttempts(ms[1].Seq, 3))
	rec, err := s.Park(ms[1].Seq, "closed the connection 3 times")
	require.NoError(t, err)
	assert.Equal(t, ms[1].Seq, rec.Seq)
	assert.Equal(t, "m1", string(rec.Payload))
	assert.Equal(t, "t/p", rec.Topic)
	assert.Equal(t, 3, rec.Attempts)
	assert.Equal(t, "closed the connection 3 times", rec.Reason)
	assert.False(t, rec.Parked.IsZero())
	_, err = s.Park(ms[3].Seq, "second")
	require.NoError(t, err)
	assert.Equal(t, []uint64{ms[0].Seq, ms[2].Seq}, seqs(s.Pending()))
	u := s.Usage()
	assert.Equal(t, 2, u.Dead)
	assert.Equal(t, int64(2*(3+2)), u.DeadBytes)
	assert.Equal(t, 2, u.Messages)
	require.NoError(t, s.Close())

	s = open(outbox.Options{})
	assert.Equal(t, []uint64{ms[0].Seq, ms[2].Seq}, seqs(s.Pending()))
	dead, err := s.Dead()
	require.NoError(t, err)
	require.Len(t, dead, 2)
	assert.Equal(t, ms[1].Seq, dead[0].Seq)
	assert.Equal(t, "m1", string(dead[0].Payload))
	assert.Equal(t, "closed the connection 3 times", dead[0].Reason)
	assert.Equal(t, 3, dead[0].Attempts)
	assert.Equal(t, ms[3].Seq, dead[1].Seq)

	meta, err := s.Retry(ms[1].Seq)
	require.NoError(t, err)
	assert.Greater(t, meta.Seq, ms[3].Seq, "a retried message goes to the tail with a new Seq")
	assert.Zero(t, meta.Attempts)
	assert.Equal(t, "t/p", meta.Topic)
	assert.Equal(t, []uint64{ms[0].Seq, ms[2].Seq, meta.Seq}, seqs(s.Pending()))
	require.NoError(t, s.Drop(ms[3].Seq))
	dead, err = s.Dead()
	require.NoError(t, err)
	assert.Empty(t, dead)
	require.NoError(t, s.Close())

	s = open(outbox.Options{})
	assert.Equal(t, []uint64{ms[0].Seq, ms[2].Seq, meta.Seq}, seqs(s.Pending()))
	assert.Equal(t, []string{"m0", "m2", "m1"}, payloads(t, s))
	dead, err = s.Dead()
	require.NoError(t, err)
	assert.Empty(t, dead)
	assert.Zero(t, s.Usage().Dead)
}

func deadLetterBound(t *testing.T, open opener) {
	s := open(outbox.Options{MaxDeadLetters: 2})
	ms, err := s.AppendBatch(ctx, msgs("t/d", 0, 3))
	require.NoError(t, err)
	for _, m := range ms {
		_, err := s.Park(m.Seq, "x")
		require.NoError(t, err)
	}
	dead, err := s.Dead()
	require.NoError(t, err)
	assert.Equal(t, []uint64{ms[1].Seq, ms[2].Seq}, seqsOf(dead), "the oldest dead letter goes")
	require.NoError(t, s.Close())
	s = open(outbox.Options{MaxDeadLetters: 2})
	dead, err = s.Dead()
	require.NoError(t, err)
	assert.Equal(t, []uint64{ms[1].Seq, ms[2].Seq}, seqsOf(dead))
	assert.Empty(t, s.Pending())
}

func seqsOf(rs []outbox.Record) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

func notFound(t *testing.T, open opener) {
	s := open(outbox.Options{})
	ms, err := s.AppendBatch(ctx, msgs("t/n", 0, 1))
	require.NoError(t, err)
	const none = 1 << 60
	_, err = s.Payload(none)
	require.ErrorIs(t, err, outbox.ErrNotFound)
	require.ErrorIs(t, s.SetAttempts(none, 1), outbox.ErrNotFound)
	_, err = s.Park(none, "x")
	require.ErrorIs(t, err, outbox.ErrNotFound)
	_, err = s.Retry(ms[0].Seq) // pending, not dead
	require.ErrorIs(t, err, outbox.ErrNotFound)
	require.ErrorIs(t, s.Drop(ms[0].Seq), outbox.ErrNotFound)
	assert.Len(t, s.Pending(), 1)
}

func closed(t *testing.T, open opener) {
	s := open(outbox.Options{})
	ms, err := s.AppendBatch(ctx, msgs("t/c", 0, 1))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = s.AppendBatch(ctx, msgs("t/c", 1, 1))
	require.ErrorIs(t, err, outbox.ErrClosed)
	_, err = s.Payload(ms[0].Seq)
	require.ErrorIs(t, err, outbox.ErrClosed)
	require.ErrorIs(t, s.SetAttempts(ms[0].Seq, 1), outbox.ErrClosed)
	_, err = s.Park(ms[0].Seq, "x")
	require.ErrorIs(t, err, outbox.ErrClosed)
	_, err = s.Dead()
	require.ErrorIs(t, err, outbox.ErrClosed)
	require.NoError(t, s.Close())
}

func seqNeverReused(t *testing.T, open opener) {
	s := open(outbox.Options{})
	ms, err := s.AppendBatch(ctx, msgs("t/s", 0, 3))
	require.NoError(t, err)
	require.NoError(t, s.Remove(seqs(ms)...))
	require.NoError(t, s.Close())
	s = open(outbox.Options{})
	assert.Empty(t, s.Pending())
	more, err := s.AppendBatch(ctx, msgs("t/s", 3, 1))
	require.NoError(t, err)
	assert.Greater(t, more[0].Seq, ms[2].Seq)
}

func concurrentAppends(t *testing.T, open opener) {
	s := open(outbox.Options{})
	const writers, each = 4, 10
	var wg sync.WaitGroup
	got := make([][]outbox.Meta, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ms, err := s.AppendBatch(ctx, msgs(fmt.Sprintf("t/%d", w), i, 2))
				if !assert.NoError(t, err) {
					return
				}
				got[w] = append(got[w], ms...)
			}
		})
	}
	wg.Wait()
	p := s.Pending()
	require.Len(t, p, writers*each*2)
	assert.True(t, slices.IsSortedFunc(p, func(a, b outbox.Meta) int { return cmp.Compare(a.Seq, b.Seq) }))
	for _, ms := range got {
		assert.True(t, slices.IsSorted(seqs(ms)), "one writer's messages keep its order")
	}
}
