package outbox

import (
	"context"
	"fmt"
)

// Store is what the uplink needs of a durable outbox: a FIFO of messages
// waiting for their acknowledgement, plus a bounded set of dead letters.
// [*Outbox] (a bbolt file) is one; package bus/natsbus has another, a
// JetStream stream. Every implementation keeps this contract, which the
// tests of package bus/outbox/outboxtest check on each of them.
//
//   - Durability: a call that writes (AppendBatch, SetAttempts, Park,
//     Retry, Drop) returns nil only once its change is durable as the
//     store defines it (the file: per its sync policy; JetStream: stored
//     by the stream, on a quorum of its replicas). What AppendBatch stored
//     is pending until Remove, RemoveOldest or Park takes it out, across
//     Close and a new open, and across a crash of the process.
//   - Remove and RemoveOldest change what Pending and Usage report at once
//     and never wait for storage; their deletions reach it later (at the
//     latest by Close). A deletion lost in a crash means the message is
//     sent again: delivery is at least once.
//   - Order: Seq grows strictly in the order messages were stored and is
//     never given to two messages of one store; Pending is in Seq order; a
//     batch's messages get consecutive positions in that order (not
//     necessarily consecutive numbers).
//   - Bounds: AppendBatch and Retry that would pass Usage's MaxMessages or
//     MaxBytes (payload plus topic bytes of the pending messages) fail with
//     an error wrapping ErrFull, naming both bounds and the usage, and
//     store nothing. Parking past the dead-letter bound drops the oldest
//     dead letter.
//   - Errors: ErrFull as above; ErrDisk when storage failed (the call
//     changed nothing and may be retried; nothing stored before is lost);
//     ErrNotFound for a Seq that is not pending (Payload, SetAttempts,
//     Park) or not a dead letter (Retry, Drop); ErrCorrupt for a record
//     that fails its checks (Payload: the caller Parks it; Retry: Drop
//     it); ErrClosed after Close. Returned errors wrap these with details.
//   - Concurrency: every method is safe for concurrent use; Close waits
//     for the calls in progress, and a second Close returns nil.
type Store interface {
	// AppendBatch stores msgs at the tail of the pending queue, in order,
	// and returns their Metas in the same order. All or nothing: when it
	// fails none of msgs is pending.
	AppendBatch(ctx context.Context, msgs []Message) ([]Meta, error)
	// Pending is a snapshot of the pending messages, oldest first. It
	// does no I/O.
	Pending() []Meta
	// Payload reads a pending message's payload.
	Payload(seq uint64) ([]byte, error)
	// Remove takes messages out of the pending queue (after their
	// acknowledgement); Seqs that are not pending are ignored.
	Remove(seqs ...uint64) error
	// RemoveOldest removes up to n of the oldest pending messages for
	// which skip (called without the store's locks; nil skips none)
	// returns false and returns them, oldest first: the drop-oldest
	// overflow policy.
	RemoveOldest(n int, skip func(seq uint64) bool) ([]Meta, error)
	// SetAttempts records that n sessions ended while the message was
	// being sent; Pending reports it, after a new open too.
	SetAttempts(seq uint64, n int) error
	// Park moves a pending message to the dead letters with reason and
	// returns it, payload included. A dead letter keeps its Seq.
	Park(seq uint64, reason string) (Record, error)
	// Dead returns the dead letters, oldest (lowest Seq) first, payloads
	// included.
	Dead() ([]Record, error)
	// Retry moves a dead letter back to the tail of the pending queue
	// with a new Seq and Attempts 0, and returns its Meta.
	Retry(seq uint64) (Meta, error)
	// Drop deletes a dead letter.
	Drop(seq uint64) error
	// Usage is what the store holds and its bounds. It does no I/O
	// beyond a file's size.
	Usage() Usage
	// Close releases the store (not a connection it was given).
	Close() error
}

var _ Store = (*Outbox)(nil)

// WithDefaults returns opts with its zero fields at their defaults, or the
// error naming an invalid one: for a Store other than the file to read the
// same settings.
func (opts Options) WithDefaults() (Options, error) { return opts.withDefaults() }

// FullError is the ErrFull of a store holding messages pending messages of
// used bytes, asked to take size more bytes, with opts's bounds: the same
// words whatever the store.
func FullError(opts Options, messages int, used, size int64) error {
	var hint string
	if size > opts.MaxBytes {
		hint = fmt.Sprintf("a message of %s can never fit: ", formatBytes(size))
	}
	return fmt.Errorf("%w: %s%d of %d messages, %s of %s (outbox.max_messages, outbox.max_bytes)",
		ErrFull, hint, messages, opts.MaxMessages, formatBytes(used), formatBytes(opts.MaxBytes))
}

// Limits of a stored message, whatever the store.
const (
	// MaxTopic is the longest topic (MQTT's 16-bit length).
	MaxTopic = maxTopic
	// MaxReason is the longest reason a dead letter keeps; Park cuts
	// longer ones.
	MaxReason = maxReason
)

// Cut returns s cut to at most n bytes on a UTF-8 boundary, as Park cuts a
// reason.
func Cut(s string, n int) string { return cut(s, n) }

// PickOldest returns RemoveOldest's candidates: the Seqs of the oldest of
// pending (a snapshot, so that skip runs unlocked) for which skip returns
// false, up to 2n of them in case some go away meanwhile.
func PickOldest(pending []Meta, n int, skip func(seq uint64) bool) []uint64 {
	var picked []uint64
	for _, m := range pending {
		if len(picked) == 2*n {
			break
		}
		if skip == nil || !skip(m.Seq) {
			picked = append(picked, m.Seq)
		}
	}
	return picked
}
