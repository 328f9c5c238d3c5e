package outbox

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/internal/testlog"

	"github.com/iotd/iotd/internal/leakcheck"
)

func tempPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "outbox.db")
}

// openT opens path and closes it when the test ends (a second Close is a
// no-op, so tests may close it earlier).
func openT(t testing.TB, path string, opts Options) *Outbox {
	t.Helper()
	o, err := Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func appendT(t testing.TB, o *Outbox, topic string, payload []byte) Meta {
	t.Helper()
	m, err := o.Append(context.Background(), topic, 1, payload)
	require.NoError(t, err)
	return m
}

func seqs(ms []Meta) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func logTo(b *testlog.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, nil))
}

func TestRoundTrip(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})

	var want []Meta
	for i := range 5 {
		m := appendT(t, o, fmt.Sprintf("prod/dev/up/%d", i), []byte(fmt.Sprintf("payload %d", i)))
		assert.Equal(t, uint64(i+1), m.Seq)
		assert.Equal(t, byte(1), m.QoS)
		assert.Equal(t, 9, m.Size)
		assert.Zero(t, m.Attempts)
		assert.WithinDuration(t, time.Now(), m.Accepted, time.Minute)
		want = append(want, m)
	}
	require.Equal(t, want, o.Pending())
	for i, m := range want {
		p, err := o.Payload(m.Seq)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("payload %d", i), string(p))
	}

	require.NoError(t, o.Remove(want[1].Seq, want[3].Seq))
	require.NoError(t, o.Remove(want[1].Seq, 999), "removing again or an unknown seq is harmless")
	want = []Meta{want[0], want[2], want[4]}
	require.Equal(t, want, o.Pending())
	_, err := o.Payload(2)
	require.ErrorIs(t, err, ErrNotFound)

	u := o.Usage()
	assert.Equal(t, 3, u.Messages)
	assert.Equal(t, int64(3*(len("prod/dev/up/0")+9)), u.Bytes)
	assert.Equal(t, DefaultMaxMessages, u.MaxMessages)
	assert.Equal(t, int64(DefaultMaxBytes), u.MaxBytes)
	assert.Positive(t, u.FileBytes)

	require.NoError(t, o.Close())
	o = openT(t, path, Options{})
	require.Equal(t, want, o.Pending(), "order and metadata survive Close and Open")
	p, err := o.Payload(want[2].Seq)
	require.NoError(t, err)
	assert.Equal(t, "payload 4", string(p))
	assert.Equal(t, 6, int(appendT(t, o, "t", nil).Seq))
}

func TestEmptyPayload(t *testing.T) {
	o := openT(t, tempPath(t), Options{})
	m := appendT(t, o, "t", nil)
	p, err := o.Payload(m.Seq)
	require.NoError(t, err)
	assert.NotNil(t, p)
	assert.Empty(t, p)
}

func TestSeqNeverReused(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	for range 3 {
		appendT(t, o, "t", []byte("x"))
	}
	require.NoError(t, o.Remove(3))
	require.NoError(t, o.Close())

	o = openT(t, path, Options{})
	assert.Equal(t, []uint64{1, 2}, seqs(o.Pending()))
	assert.Equal(t, uint64(4), appendT(t, o, "t", nil).Seq, "the newest seq was removed, yet not handed out again")

	require.NoError(t, o.Remove(1, 2, 4))
	require.NoError(t, o.Close())
	o = openT(t, path, Options{})
	assert.Empty(t, o.Pending())
	assert.Equal(t, uint64(5), appendT(t, o, "t", nil).Seq, "with nothing left, the stored counter decides")
}

func TestAppendValidates(t *testing.T) {
	o := openT(t, tempPath(t), Options{})
	ctx := context.Background()
	_, err := o.Append(ctx, "", 1, nil)
	assert.ErrorContains(t, err, "empty topic")
	_, err = o.Append(ctx, "t", 3, nil)
	assert.ErrorContains(t, err, "qos 3")
	assert.Empty(t, o.Pending())
}

func TestAppendContextEnded(t *testing.T) {
	o := openT(t, tempPath(t), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := o.Append(ctx, "t", 1, []byte("x"))
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, o.Pending())
}

func TestBounds(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		payload int
		fits    int
		usage   string
	}{
		{"messages", Options{MaxMessages: 3}, 10, 3, "3 of 3 messages, 33 B of 32 MiB"},
		{"bytes", Options{MaxBytes: 100}, 40, 2, "2 of 10000 messages, 82 B of 100 B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := openT(t, tempPath(t), tt.opts)
			for range tt.fits {
				appendT(t, o, "t", make([]byte, tt.payload))
			}
			_, err := o.Append(context.Background(), "t", 1, make([]byte, tt.payload))
			require.ErrorIs(t, err, ErrFull)
			assert.ErrorContains(t, err, tt.usage)
			assert.ErrorContains(t, err, "(outbox.max_messages, outbox.max_bytes)")
			assert.Len(t, o.Pending(), tt.fits, "a refused message is not stored")

			require.NoError(t, o.Remove(o.Pending()[0].Seq))
			appendT(t, o, "t", make([]byte, tt.payload))
		})
	}
}

func TestBoundNeverFits(t *testing.T) {
	o := openT(t, tempPath(t), Options{MaxBytes: 1 << 20})
	_, err := o.Append(context.Background(), "t", 1, make([]byte, 2<<20))
	require.ErrorIs(t, err, ErrFull)
	assert.ErrorContains(t, err, "a message of 2.0 MiB can never fit: 0 of 10000 messages, 0 B of 1 MiB")
}

func TestDeadLetters(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	a := appendT(t, o, "a", []byte("alpha"))
	b := appendT(t, o, "b", []byte("beta"))
	c := appendT(t, o, "c", []byte("gamma"))

	r, err := o.Park(b.Seq, "session closed 3 times while sending")
	require.NoError(t, err)
	assert.Equal(t, b, r.Meta)
	assert.Equal(t, "beta", string(r.Payload))
	assert.Equal(t, "session closed 3 times while sending", r.Reason)
	assert.WithinDuration(t, time.Now(), r.Parked, time.Minute)
	assert.Equal(t, []uint64{a.Seq, c.Seq}, seqs(o.Pending()))
	_, err = o.Park(b.Seq, "again")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = o.Payload(b.Seq)
	require.ErrorIs(t, err, ErrNotFound)

	_, err = o.Park(a.Seq, "too large for the hub")
	require.NoError(t, err)
	u := o.Usage()
	assert.Equal(t, 1, u.Messages)
	assert.Equal(t, 2, u.Dead)
	assert.Equal(t, int64(len("a")+5+len("b")+4), u.DeadBytes)

	require.NoError(t, o.Close())
	o = openT(t, path, Options{})
	dead, err := o.Dead()
	require.NoError(t, err)
	require.Len(t, dead, 2, "dead letters survive a reopen")
	assert.Equal(t, a.Seq, dead[0].Seq, "oldest first")
	assert.Equal(t, "alpha", string(dead[0].Payload))
	assert.Equal(t, "too large for the hub", dead[0].Reason)
	assert.Equal(t, r, dead[1])
	assert.Equal(t, 2, o.Usage().Dead)

	m, err := o.Retry(b.Seq)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), m.Seq, "a retried message gets a new seq")
	assert.Equal(t, "b", m.Topic)
	assert.Zero(t, m.Attempts)
	assert.Equal(t, []uint64{c.Seq, 4}, seqs(o.Pending()), "at the tail")
	p, err := o.Payload(4)
	require.NoError(t, err)
	assert.Equal(t, "beta", string(p))
	_, err = o.Retry(b.Seq)
	require.ErrorIs(t, err, ErrNotFound)

	require.NoError(t, o.Drop(a.Seq))
	require.ErrorIs(t, o.Drop(a.Seq), ErrNotFound)
	dead, err = o.Dead()
	require.NoError(t, err)
	assert.Empty(t, dead)
	u = o.Usage()
	assert.Zero(t, u.Dead)
	assert.Zero(t, u.DeadBytes)

	require.NoError(t, o.Close())
	o = openT(t, path, Options{})
	assert.Equal(t, []uint64{c.Seq, 4}, seqs(o.Pending()))
	dead, err = o.Dead()
	require.NoError(t, err)
	assert.Empty(t, dead)
}

func TestRetryRespectsBounds(t *testing.T) {
	o := openT(t, tempPath(t), Options{MaxMessages: 2})
	a := appendT(t, o, "t", []byte("a"))
	b := appendT(t, o, "t", []byte("b"))
	_, err := o.Park(a.Seq, "poison")
	require.NoError(t, err)
	appendT(t, o, "t", []byte("c"))

	_, err = o.Retry(a.Seq)
	require.ErrorIs(t, err, ErrFull)
	assert.ErrorContains(t, err, "2 of 2 messages")
	dead, err := o.Dead()
	require.NoError(t, err)
	assert.Len(t, dead, 1, "a refused retry leaves the dead letter")

	require.NoError(t, o.Remove(b.Seq))
	m, err := o.Retry(a.Seq)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), m.Seq)
}

func TestMaxDeadLetters(t *testing.T) {
	var logs testlog.Buffer
	path := tempPath(t)
	o := openT(t, path, Options{MaxDeadLetters: 2, Log: logTo(&logs)})
	for range 4 {
		appendT(t, o, "t", []byte("x"))
	}
	for seq := uint64(1); seq <= 3; seq++ {
		_, err := o.Park(seq, fmt.Sprintf("reason %d", seq))
		require.NoError(t, err)
	}
	dead, err := o.Dead()
	require.NoError(t, err)
	require.Len(t, dead, 2)
	assert.Equal(t, []uint64{2, 3}, []uint64{dead[0].Seq, dead[1].Seq}, "the oldest was dropped")
	assert.Equal(t, 2, o.Usage().Dead)
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "dead letter dropped")
	assert.Contains(t, logs.String(), `reason="reason 1"`)

	require.NoError(t, o.Close())
	o = openT(t, path, Options{MaxDeadLetters: 2})
	dead, err = o.Dead()
	require.NoError(t, err)
	assert.Len(t, dead, 2)
}

func TestSetAttempts(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	m := appendT(t, o, "t", []byte("x"))
	require.NoError(t, o.SetAttempts(m.Seq, 2))
	assert.Equal(t, 2, o.Pending()[0].Attempts)
	require.ErrorIs(t, o.SetAttempts(99, 1), ErrNotFound)
	require.Error(t, o.SetAttempts(m.Seq, -1))

	require.NoError(t, o.Close())
	o = openT(t, path, Options{})
	assert.Equal(t, 2, o.Pending()[0].Attempts)
	p, err := o.Payload(m.Seq)
	require.NoError(t, err)
	assert.Equal(t, "x", string(p))
	r, err := o.Park(m.Seq, "poison")
	require.NoError(t, err)
	assert.Equal(t, 2, r.Attempts, "dead letters keep their attempts")
}

func TestRemoveOldest(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	for range 6 {
		appendT(t, o, "t", []byte("x"))
	}
	inFlight := map[uint64]bool{1: true, 3: true}
	removed, err := o.RemoveOldest(2, func(seq uint64) bool { return inFlight[seq] })
	require.NoError(t, err)
	assert.Equal(t, []uint64{2, 4}, seqs(removed))
	assert.Equal(t, []uint64{1, 3, 5, 6}, seqs(o.Pending()))

	removed, err = o.RemoveOldest(10, nil)
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 3, 5, 6}, seqs(removed))
	assert.Empty(t, o.Pending())

	require.NoError(t, o.Close())
	o = openT(t, path, Options{})
	assert.Empty(t, o.Pending(), "removals are written by Close")
}

// Removals reach the file within SyncInterval without any further call.
func TestRemoveWrittenInBackground(t *testing.T) {
	o := openT(t, tempPath(t), Options{SyncInterval: 10 * time.Millisecond})
	m := appendT(t, o, "t", []byte("x"))
	before := o.commits.Load()
	require.NoError(t, o.Remove(m.Seq))
	require.Eventually(t, func() bool { return o.commits.Load() > before }, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return !o.hasDeletes() }, 10*time.Second, time.Millisecond)
}

func TestClosed(t *testing.T) {
	o := openT(t, tempPath(t), Options{})
	m := appendT(t, o, "t", nil)
	require.NoError(t, o.Close())
	require.NoError(t, o.Close(), "a second Close is a no-op")

	_, err := o.Append(context.Background(), "t", 1, nil)
	assert.ErrorIs(t, err, ErrClosed)
	_, err = o.Payload(m.Seq)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, o.Remove(m.Seq), ErrClosed)
	_, err = o.RemoveOldest(1, nil)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, o.SetAttempts(m.Seq, 1), ErrClosed)
	_, err = o.Park(m.Seq, "x")
	assert.ErrorIs(t, err, ErrClosed)
	_, err = o.Dead()
	assert.ErrorIs(t, err, ErrClosed)
	_, err = o.Retry(m.Seq)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, o.Drop(m.Seq), ErrClosed)
	assert.Equal(t, []uint64{m.Seq}, seqs(o.Pending()), "the snapshot is still readable")
}

func TestNoGoroutineLeak(t *testing.T) {
	snap := leakcheck.Take()
	o, err := Open(tempPath(t), Options{Sync: SyncInterval})
	require.NoError(t, err)
	appendT(t, o, "t", nil)
	require.NoError(t, o.Close())
	snap.Check(t, 10*time.Second, nil)
}

func TestOptionsValidated(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{Options{MaxMessages: -1}, "outbox.max_messages"},
		{Options{MaxBytes: -1}, "outbox.max_bytes"},
		{Options{MaxDeadLetters: -1}, "outbox.max_dead_letters"},
		{Options{SyncInterval: -time.Second}, "outbox.sync_interval"},
		{Options{Sync: "sometimes"}, `outbox.sync: "sometimes", want "always", "interval" or "never"`},
	}
	for _, tt := range tests {
		_, err := Open(tempPath(t), tt.opts)
		assert.ErrorContains(t, err, tt.want)
	}
}

func TestFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	path := tempPath(t)
	o := openT(t, path, Options{})
	require.NoError(t, o.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	require.NoError(t, os.Chmod(path, 0o644))
	var logs testlog.Buffer
	openT(t, path, Options{Log: logTo(&logs)})
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Contains(t, logs.String(), "made it 0600")
}

func TestLargePayloads(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{Sync: SyncNever})
	big := bytes.Repeat([]byte("0123456789"), 100_000)
	m := appendT(t, o, "t", big)
	require.NoError(t, o.Close())
	o = openT(t, path, Options{})
	p, err := o.Payload(m.Seq)
	require.NoError(t, err)
	assert.Equal(t, big, p)
}

func TestAppendBatch(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{MaxMessages: 4})
	ms, err := o.AppendBatch(context.Background(), nil)
	require.NoError(t, err)
	assert.Empty(t, ms)

	appendT(t, o, "t", []byte("0"))
	ms, err = o.AppendBatch(context.Background(), []Message{
		{Topic: "a", QoS: 1, Payload: []byte("1")},
		{Topic: "b", QoS: 1, Payload: []byte("2")},
	})
	require.NoError(t, err)
	assert.Equal(t, []uint64{2, 3}, seqs(ms), "consecutive seqs, in the given order")
	assert.Equal(t, "b", ms[1].Topic)

	_, err = o.AppendBatch(context.Background(), []Message{
		{Topic: "c", QoS: 1, Payload: []byte("3")},
		{Topic: "d", QoS: 1, Payload: []byte("4")},
	})
	require.ErrorIs(t, err, ErrFull)
	assert.Len(t, o.Pending(), 3, "all or nothing")
	_, err = o.AppendBatch(context.Background(), []Message{{Topic: "", QoS: 1}})
	require.Error(t, err)

	require.NoError(t, o.Close())
	o = openT(t, path, Options{MaxMessages: 4})
	assert.Equal(t, []uint64{1, 2, 3}, seqs(o.Pending()))
	p, err := o.Payload(3)
	require.NoError(t, err)
	assert.Equal(t, "2", string(p))
}
