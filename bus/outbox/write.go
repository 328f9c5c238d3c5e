package outbox

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Every write goes through one goroutine (run), which gathers the requests
// waiting for it into one bbolt transaction: one commit and, with
// SyncAlways, one fsync for all of them. While it is fsyncing, new requests
// queue and make the next batch, so batches grow with the load and a lone
// caller waits for nothing but its own commit. bbolt's DB.Batch instead
// waits up to MaxBatchDelay (10ms) for company and, once its batch is full,
// commits it while the next one waits: BenchmarkBoltPeer measured it at
// about 90 msgs/s for a lone caller and 1.5k msgs/s for 16, against 2.5k and
// 14k for this loop (BenchmarkAppend, SyncAlways, 256-byte messages).

// Limits of one batch, so that one commit's memory stays bounded.
const (
	maxBatchOps   = 512
	maxBatchBytes = 8 << 20
)

// op is one write request. run applies it to tx and to b (which holds the
// usage as it stands within the transaction) and queues its in-memory
// effects in b.effects, applied once the commit succeeded. run must check
// before it changes anything: an error it returns is the request's own
// result and the transaction goes on without it, unless the error comes
// from abort (a failed bbolt write), which rolls the transaction back and
// reruns the others without this one.
type op struct {
	run   func(tx *bolt.Tx, b *batch) error
	size  int64
	err   error
	state atomic.Int32
	done  chan struct{}
}

const (
	opQueued int32 = iota
	opTaken
	opCancelled
)

// batch is the state a transaction builds on: the committed usage plus the
// effects of the requests before it in the same transaction.
type batch struct {
	messages  int
	bytes     int64
	dead      int
	deadBytes int64
	nextSeq   uint64
	effects   []func()
}

// errNothingToCommit rolls back a transaction that changed nothing.
var errNothingToCommit = errors.New("outbox: nothing to commit")

type abortError struct{ err error }

func (e *abortError) Error() string { return e.err.Error() }
func (e *abortError) Unwrap() error { return e.err }

// abort marks a failed bbolt write inside run.
func abort(err error) error { return &abortError{err} }

// submit hands p to the writer and waits for its result. ctx is honoured
// until the writer takes p; after that the commit runs to its end.
func (o *Outbox) submit(ctx context.Context, p *op) error {
	if err := o.enter(); err != nil {
		return err
	}
	defer o.closeMu.RUnlock()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	p.done = make(chan struct{})
	select {
	case o.reqs <- p:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(opQueued, opCancelled) {
			return context.Cause(ctx)
		}
		<-p.done
		return p.err
	}
}

// run is the writer goroutine: it commits batches of requests, writes
// deletions left by Remove at least every SyncInterval, fsyncs every
// SyncInterval with that policy, and finishes everything when Close asks.
func (o *Outbox) run() {
	defer close(o.stopped)
	var (
		timer  *time.Timer
		flushC <-chan time.Time
		dirty  bool // committed but not fsynced (SyncInterval)
	)
	arm := func() {
		if flushC != nil {
			return
		}
		if timer == nil {
			timer = time.NewTimer(o.opts.SyncInterval)
		} else {
			timer.Reset(o.opts.SyncInterval)
		}
		flushC = timer.C
	}
	commit := func(ops []*op) {
		if o.commit(ops) && o.opts.Sync == SyncInterval {
			dirty = true
			arm()
		}
	}
	for {
		select {
		case p := <-o.reqs:
			if ops := o.gather(p); len(ops) > 0 {
				commit(ops)
			}
		case <-o.kick:
			arm()
		case <-flushC:
			flushC = nil
			if o.hasDeletes() {
				commit(nil)
			}
			if dirty {
				dirty = false
				_ = o.sync()
			}
		case <-o.quit:
			if timer != nil {
				timer.Stop()
			}
			// Requests already queued were accepted before Close: finish them.
			for {
				select {
				case p := <-o.reqs:
					if ops := o.gather(p); len(ops) > 0 {
						commit(ops)
					}
					continue
				default:
				}
				break
			}
			if o.hasDeletes() && !o.commit(nil) {
				o.closeErr = fmt.Errorf("%w: %s: removals not written (the messages will be sent again)", ErrDisk, o.path)
			}
			if o.opts.Sync == SyncInterval {
				if err := o.sync(); err != nil && o.closeErr == nil {
					o.closeErr = err
				}
			}
			return
		}
	}
}

// gather takes p and whatever else is queued, up to the batch limits.
func (o *Outbox) gather(p *op) []*op {
	var ops []*op
	var size int64
	take := func(q *op) {
		if q.state.CompareAndSwap(opQueued, opTaken) {
			ops = append(ops, q)
			size += q.size
		}
	}
	take(p)
	for len(ops) < maxBatchOps && size < maxBatchBytes {
		select {
		case q := <-o.reqs:
			take(q)
			continue
		default:
		}
		break
	}
	return ops
}

func (o *Outbox) hasDeletes() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.deletes) > 0
}

// commit writes the pending deletions and ops in one transaction, applies
// their effects to memory when it succeeded, and answers every op. It
// reports whether a transaction was committed (not when every op was
// refused and there was nothing to write).
func (o *Outbox) commit(ops []*op) bool {
	if o.failed && len(ops) > 0 && o.hasDeletes() {
		// After a failed commit (a full disk, most likely) write the
		// deletions on their own first: the pages they free can only be
		// reused by a later transaction, and the requests may need them.
		o.commit(nil)
	}
	o.mu.Lock()
	dels := o.deletes
	o.deletes = nil
	base := batch{messages: o.pending.Len(), bytes: o.pending.Bytes(), dead: o.dead, deadBytes: o.deadBytes, nextSeq: o.nextSeq}
	o.mu.Unlock()

	var (
		b   batch
		err error
	)
	for {
		b = base
		failed := -1
		err = o.update(func(tx *bolt.Tx) error {
			pb := tx.Bucket(bucketPending)
			for _, seq := range dels {
				if err := deleteRecord(pb, seqKey(seq)); err != nil {
					o.log.Error("outbox: cannot delete a removed message", "seq", seq, "err", err)
				}
				if o.touched.Add(faultAround) >= releaseEvery {
					o.releaseLocked(tx)
				}
			}
			for i, p := range ops {
				p.err = o.runOp(p, tx, &b)
				if a := (*abortError)(nil); errors.As(p.err, &a) {
					failed = i
					return p.err
				}
			}
			if b.nextSeq != base.nextSeq {
				if err := tx.Bucket(bucketMeta).Put(keySeq, seqKey(b.nextSeq-1)); err != nil {
					return err
				}
			}
			if len(dels) == 0 && len(b.effects) == 0 {
				// Every request was refused (ErrFull, ErrNotFound...):
				// no commit, no fsync.
				return errNothingToCommit
			}
			return nil
		})
		if err == errNothingToCommit {
			for _, p := range ops {
				close(p.done)
			}
			return false
		}
		if failed < 0 {
			break
		}
		// One request broke the transaction: answer it and rerun the rest.
		close(ops[failed].done)
		ops = append(ops[:failed:failed], ops[failed+1:]...)
	}

	if err != nil {
		// Nothing was written. Seqs handed out in the failed transaction
		// are not handed out again (see Meta.Seq), the deletions are
		// retried with the next commit.
		o.failed = true
		o.log.Error("outbox: commit failed", "err", err)
		o.mu.Lock()
		o.deletes = append(dels, o.deletes...)
		o.mu.Unlock()
		o.nextSeq = b.nextSeq
		for _, p := range ops {
			p.err = err
			close(p.done)
		}
		return false
	}

	o.failed = false
	o.mu.Lock()
	for _, f := range b.effects {
		f()
	}
	empty := o.pending.Len() == 0
	o.mu.Unlock()
	o.nextSeq = b.nextSeq
	for _, p := range ops {
		close(p.done)
	}
	// Hand the pages read through the mapping back every releaseEvery
	// bytes, and whenever the queue drained.
	if t := o.touched.Load(); t >= releaseEvery || (len(dels) > 0 && empty && t > 0) {
		o.release()
	}
	o.commits.Add(1)
	return true
}

// runOp runs p inside the transaction, turning a panic (bbolt panics on
// some damaged pages) into an abort with ErrCorrupt.
func (o *Outbox) runOp(p *op, tx *bolt.Tx, b *batch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = abort(o.panicError(r))
		}
	}()
	return p.run(tx, b)
}

// update runs fn in a write transaction and commits it. A failed commit is
// ErrDisk; a panic is ErrCorrupt. Either way bbolt rolled back: the file
// keeps its last committed state.
func (o *Outbox) update(fn func(tx *bolt.Tx) error) (err error) {
	tx, err := o.db.Begin(true)
	if err != nil {
		return fmt.Errorf("outbox: %s: %w", o.path, err)
	}
	// A fault reading the mapping (a damaged page pointing past the file)
	// becomes a panic, recovered below, instead of killing the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			rollback(tx)
			err = o.panicError(r)
		}
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrDisk, o.path, err)
	}
	return nil
}

// view runs fn in a read transaction, turning a panic into ErrCorrupt.
func (o *Outbox) view(fn func(tx *bolt.Tx) error) (err error) {
	tx, err := o.db.Begin(false)
	if err != nil {
		return fmt.Errorf("outbox: %s: %w", o.path, err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			rollback(tx)
			err = o.panicError(r)
		}
	}()
	err = fn(tx)
	_ = tx.Rollback()
	return err
}

// rollback ends tx after a panic, which may have left it half closed.
func rollback(tx *bolt.Tx) {
	defer func() { _ = recover() }()
	_ = tx.Rollback()
}

func (o *Outbox) panicError(r any) error {
	return corruptError(o.path, fmt.Errorf("damaged file structure (bbolt: %v)", r))
}

// sync fsyncs the file (SyncInterval and Close).
func (o *Outbox) sync() error {
	if err := o.db.Sync(); err != nil {
		err = fmt.Errorf("%w: %s: fsync: %w", ErrDisk, o.path, err)
		o.log.Error("outbox: fsync failed; what was appended since the last fsync may not survive a power loss", "err", err)
		return err
	}
	return nil
}

// releaseEnabled is switched off only by the test that measures what the
// release saves.
var releaseEnabled = true

// release hands the pages read through bbolt's mapping back to the kernel.
func (o *Outbox) release() {
	_ = o.view(func(tx *bolt.Tx) error {
		o.releaseLocked(tx)
		return nil
	})
}

// maybeRelease releases once enough was read since the last release.
func (o *Outbox) maybeRelease() {
	if o.touched.Load() >= releaseEvery {
		o.release()
	}
}

// releaseLocked must run inside a transaction: bbolt holds its mmap lock
// shared for a read transaction's life, so the mapping cannot be replaced
// (remapped on growth) while it is advised. A write transaction does not
// hold it, but only a write transaction's commit remaps, and every write
// transaction is the writer goroutine's: inside the writer's transaction,
// before its commit, the mapping stays.
func (o *Outbox) releaseLocked(tx *bolt.Tx) {
	o.touched.Store(0)
	if !releaseEnabled {
		return
	}
	if err := releaseMapping(o.db.Info().Data, tx.Size()); err != nil {
		o.log.Debug("outbox: madvise failed", "err", err)
	}
}
