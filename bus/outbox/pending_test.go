package outbox

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPendingQueue(t *testing.T) {
	var q PendingQueue
	_, ok := q.Oldest()
	assert.False(t, ok)
	for seq := uint64(1); seq <= 9; seq++ {
		q.Push(Meta{Seq: seq, Topic: "t", Size: 10})
	}
	assert.Equal(t, 9, q.Len())
	assert.EqualValues(t, 9*11, q.Bytes(), "topic and payload count")

	// From the front (an acknowledgement), the back and the middle: both
	// sides of the shorter-side move.
	for _, seq := range []uint64{1, 9, 3, 7} {
		m, ok := q.Remove(seq)
		require.True(t, ok)
		assert.Equal(t, seq, m.Seq)
	}
	_, ok = q.Remove(3)
	assert.False(t, ok, "a second Remove finds nothing")
	var seqs []uint64
	for _, m := range q.Snapshot() {
		seqs = append(seqs, m.Seq)
	}
	assert.Equal(t, []uint64{2, 4, 5, 6, 8}, seqs, "the others, in order")
	assert.EqualValues(t, 5*11, q.Bytes())

	assert.True(t, q.SetAttempts(5, 3))
	assert.False(t, q.SetAttempts(7, 3))
	m, ok := q.Get(5)
	require.True(t, ok)
	assert.Equal(t, 3, m.Attempts)
	m, ok = q.Oldest()
	require.True(t, ok)
	assert.EqualValues(t, 2, m.Seq)

	snap := q.Snapshot()
	snap[0].Attempts = 99
	m, _ = q.Get(2)
	assert.Zero(t, m.Attempts, "a snapshot is a copy")

	q.Reset()
	assert.Zero(t, q.Len())
	assert.Zero(t, q.Bytes())
}
