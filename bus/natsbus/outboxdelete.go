package natsbus

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The JetStream outbox's deletions: what Remove, SetAttempts, Park and
// Retry took out leaves the stream in the background, in runs.

func (o *Outbox) kickDeleter() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// retryDeletes is how long the deleter waits before it tries again the
// deletions that failed (NATS unreachable).
const retryDeletes = time.Second

// deleter deletes what Remove, SetAttempts and Park took out, in runs.
func (o *Outbox) deleter() {
	defer close(o.stopped)
	retry := time.NewTimer(retryDeletes)
	defer retry.Stop()
	for {
		select {
		case <-o.kick:
		case <-retry.C:
		case <-o.quit:
			ctx, cancel := o.ctx()
			o.flush(ctx)
			cancel()
			return
		}
		ctx, cancel := o.ctx()
		o.flush(ctx)
		cancel()
		retry.Reset(retryDeletes)
	}
}

// flush deletes the queued stream sequences: removed pending messages
// below the oldest one still pending (or every one when none is) with one
// purge of the subject, the others and the markers one by one. What fails
// stays queued.
func (o *Outbox) flush(ctx context.Context) {
	o.mu.Lock()
	deletes, drops := o.deletes, o.drops
	o.deletes, o.drops = nil, nil
	floor := uint64(0) // the lowest Seq on the pending subject to keep
	if m, ok := o.pending.Oldest(); ok {
		floor = m.Seq
	}
	for _, d := range o.dead {
		if d.corrupt != nil && d.rec.Seq == d.at && (floor == 0 || d.at < floor) {
			floor = d.at // a corrupt pending message, shown as a dead letter
		}
	}
	o.mu.Unlock()
	if len(deletes)+len(drops) == 0 {
		return
	}
	slices.Sort(deletes)
	var failed []uint64
	// Everything removed below floor goes in one purge.
	below := len(deletes)
	if floor != 0 {
		below, _ = slices.BinarySearch(deletes, floor)
	}
	if below > 1 {
		upto := deletes[below-1] + 1
		if err := o.st.Purge(ctx, jetstream.WithPurgeSubject(o.msgSub), jetstream.WithPurgeSequence(upto)); err != nil {
			o.log.Debug("outbox: purge", "stream", o.cfg.Stream, "upto", upto, "err", err)
			failed = append(failed, deletes[:below]...)
		}
		deletes = deletes[below:]
	}
	del := func(ats []uint64) (failed []uint64) {
		for _, at := range ats {
			if err := o.st.DeleteMsg(ctx, at); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				failed = append(failed, at)
			}
		}
		return failed
	}
	failed = append(failed, del(deletes)...)
	failedDrops := del(drops)
	if len(failed)+len(failedDrops) > 0 {
		o.mu.Lock()
		o.deletes = append(o.deletes, failed...)
		o.drops = append(o.drops, failedDrops...)
		o.mu.Unlock()
	}
}
