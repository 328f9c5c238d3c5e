package outbox

import (
	"cmp"
	"slices"
)

// PendingQueue is a store's in-memory index of its pending messages: their
// Metas in Seq order and the bytes they count against Options.MaxBytes
// (topic and payload). The file outbox and the JetStream one keep one each,
// under their own lock; it is not safe for concurrent use.
type PendingQueue struct {
	metas []Meta
	bytes int64
}

// Len is how many messages are pending; Bytes what they count.
func (q *PendingQueue) Len() int     { return len(q.metas) }
func (q *PendingQueue) Bytes() int64 { return q.bytes }

// Push appends m, whose Seq is higher than every pending one.
func (q *PendingQueue) Push(m Meta) {
	q.metas = append(q.metas, m)
	q.bytes += int64(len(m.Topic) + m.Size)
}

// Get returns the pending message seq.
func (q *PendingQueue) Get(seq uint64) (Meta, bool) {
	if i, ok := q.find(seq); ok {
		return q.metas[i], true
	}
	return Meta{}, false
}

// SetAttempts records n as seq's attempts; false when seq is not pending.
func (q *PendingQueue) SetAttempts(seq uint64, n int) bool {
	i, ok := q.find(seq)
	if ok {
		q.metas[i].Attempts = n
	}
	return ok
}

// Oldest returns the pending message with the lowest Seq.
func (q *PendingQueue) Oldest() (Meta, bool) {
	if len(q.metas) == 0 {
		return Meta{}, false
	}
	return q.metas[0], true
}

// Remove takes seq out, moving whichever side of it is shorter:
// acknowledgements mostly come for the oldest messages, so the usual cost
// is a reslice, not a copy of the queue.
func (q *PendingQueue) Remove(seq uint64) (Meta, bool) {
	i, ok := q.find(seq)
	if !ok {
		return Meta{}, false
	}
	p := q.metas
	m := p[i]
	q.bytes -= int64(len(m.Topic) + m.Size)
	if i < len(p)/2 {
		copy(p[1:i+1], p[:i])
		p[0] = Meta{}
		q.metas = p[1:]
	} else {
		copy(p[i:], p[i+1:])
		p[len(p)-1] = Meta{}
		q.metas = p[:len(p)-1]
	}
	return m, true
}

// Snapshot returns a copy of the pending messages, oldest first.
func (q *PendingQueue) Snapshot() []Meta { return slices.Clone(q.metas) }

// Reset empties the queue.
func (q *PendingQueue) Reset() { *q = PendingQueue{} }

func (q *PendingQueue) find(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(q.metas, seq, func(m Meta, s uint64) int { return cmp.Compare(m.Seq, s) })
}
