package outbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Meta describes a stored message without its payload. The outbox keeps one
// in memory for every pending message; payloads stay on disk.
type Meta struct {
	// Seq is assigned by Append: strictly increasing within a file and
	// never given to two messages (the counter is stored in the file).
	Seq uint64
	// Topic is the MQTT topic the message goes to.
	Topic string
	// QoS is always 1 today; it is stored so that the format can carry more.
	QoS byte
	// Size is the payload's length in bytes.
	Size int
	// Accepted is when Append stored the message.
	Accepted time.Time
	// Attempts counts the MQTT sessions that ended while the message was
	// being sent (see SetAttempts).
	Attempts int
}

// Record is a stored message with its payload. Dead letters also carry why
// and when they were parked.
type Record struct {
	Meta
	Payload []byte
	// Reason is why the message was parked (dead letters only). A record
	// that failed its checks when the outbox was opened is parked with a
	// reason that starts with "corrupt record: ".
	Reason string
	// Parked is when the message became a dead letter (dead letters only).
	Parked time.Time
}

// SyncPolicy says when the outbox fsyncs its file.
type SyncPolicy string

const (
	// SyncAlways (the default): Append returns once its message is on
	// stable storage. Concurrent Appends share one commit and fsync.
	SyncAlways SyncPolicy = "always"
	// SyncInterval: Append returns once its message is written to the
	// operating system; the file is fsynced at most every
	// Options.SyncInterval and on Close. A process crash (even SIGKILL)
	// loses nothing; a power loss or kernel crash loses up to one interval
	// and, as bbolt then gives no ordering guarantee between its pages,
	// may leave a file that Open refuses as corrupt.
	SyncInterval SyncPolicy = "interval"
	// SyncNever never fsyncs. For tests and benchmarks only.
	SyncNever SyncPolicy = "never"
)

// Defaults for the zero Options. The bounds are sized for a board with
// 128 MB of RAM and flash: 32 MiB of queued payloads on flash and about
// 100 bytes of memory per pending message (its Meta) at most.
const (
	DefaultMaxMessages    = 10000
	DefaultMaxBytes       = 32 << 20
	DefaultMaxDeadLetters = 100
	DefaultSyncInterval   = 200 * time.Millisecond
)

// Options configure an Outbox. The zero value is valid: every zero field
// takes its default.
type Options struct {
	// MaxMessages bounds the pending messages (outbox.max_messages);
	// default 10000.
	MaxMessages int
	// MaxBytes bounds the pending messages' payload plus topic bytes
	// (outbox.max_bytes); default 32 MiB.
	MaxBytes int64
	// MaxDeadLetters bounds the dead letters; when one more is parked the
	// oldest (lowest Seq) is dropped and logged at warn. Default 100.
	MaxDeadLetters int
	// Sync is the fsync policy; default SyncAlways.
	Sync SyncPolicy
	// SyncInterval is the longest time between fsyncs with SyncInterval,
	// and with every policy the longest a Remove waits before it is
	// written to the file. Default 200ms.
	SyncInterval time.Duration
	// Log receives warnings (evicted dead letters, salvaged records, a
	// file mode fixed) and errors of background writes. Nil discards them.
	Log *slog.Logger
}

// Errors the outbox returns; the returned errors wrap them with details.
var (
	// ErrFull: Append or Retry was refused because a bound would be
	// exceeded. The error names both bounds, their settings and the usage.
	ErrFull = errors.New("outbox: full")
	// ErrDisk: writing or fsyncing the file failed (ENOSPC, EIO...). It
	// wraps the operating system's error. Nothing stored before is lost
	// and the outbox stays usable: the call can be retried.
	ErrDisk = errors.New("outbox: disk error")
	// ErrCorrupt: a record or the file failed its checks.
	ErrCorrupt = errors.New("outbox: corrupt")
	// ErrNotFound: no pending message (or dead letter) has that Seq.
	ErrNotFound = errors.New("outbox: no such message")
	// ErrClosed: the Outbox was closed.
	ErrClosed = errors.New("outbox: closed")
	// ErrLocked: Open found the file locked by another process.
	ErrLocked = errors.New("outbox: locked")
)

// Usage is a snapshot of what the outbox holds.
type Usage struct {
	Messages    int   // pending messages
	Bytes       int64 // their payload plus topic bytes
	MaxMessages int
	MaxBytes    int64
	Dead        int   // dead letters
	DeadBytes   int64 // their payload plus topic bytes
	FileBytes   int64 // size of the file on disk (it does not shrink)
}

// Bucket and key names. Records are keyed by their Seq, big-endian, so that
// bbolt's key order is Seq order.
var (
	bucketMeta    = []byte("meta")
	bucketPending = []byte("pending")
	bucketDead    = []byte("dead")
	keyFormat     = []byte("format")
	keySeq        = []byte("seq")
)

// formatVersion is the layout of buckets and keys, stored under
// meta/format; the records carry their own version. Version 1 stored each
// record as a plain value under its key, version 2 in a bucket of its own
// (see layout.go); Open converts a version 1 file.
const formatVersion = 2

// releaseEvery is how many bytes may be read through bbolt's mapping
// before the pages are handed back to the kernel (see releaseMapping). At
// 8 MiB a drain of 900 KB messages kept up to 9 MiB of the mapping resident
// in the daemon; at 2 MiB up to 3 MiB, for one madvise per 2 MiB read.
const releaseEvery = 2 << 20

// faultAround is what touching one page of the mapping makes resident:
// a read fault maps the pages around it that are in the page cache too, up
// to fault_around_bytes (64 KiB by default). Deleting a record reads only
// the header of its first page (bbolt frees its pages by it), yet costs
// this much until the next release; a drain that deleted 250 records of
// 900 KiB in one commit held 15 MiB of the mapping that way.
const faultAround = 64 << 10

// Outbox is a durable FIFO of messages waiting for their PUBACK, plus a
// bounded set of dead letters. All its methods are safe for concurrent use.
type Outbox struct {
	db   *bolt.DB
	file *os.File // bbolt's, for checkPages
	path string
	opts Options
	log  *slog.Logger

	// closeMu is held shared by every call for its duration and
	// exclusively by Close, so that Close waits for calls in progress and
	// later calls see closed.
	closeMu sync.RWMutex
	closed  bool

	// mu guards the in-memory state below. The writer goroutine changes
	// it only after a commit succeeded; Remove changes it at once and
	// leaves the deletion to the writer.
	mu        sync.Mutex
	pending   PendingQueue
	dead      int
	deadBytes int64
	deletes   []uint64 // removed from pending, not yet deleted from the file

	// Owned by the writer goroutine (and Open before it): the next Seq to
	// hand out, and whether the last commit failed.
	nextSeq uint64
	failed  bool

	// commits counts committed transactions (group commit is tested by it).
	commits atomic.Int64

	// touched estimates the bytes read through the mapping since the last
	// release: records read, and the pages bbolt reads to delete one.
	touched atomic.Int64

	reqs     chan *op
	kick     chan struct{}
	quit     chan struct{}
	stopped  chan struct{}
	closeErr error // set by the writer before stopped is closed
}

// Append stores a message at the tail of the pending queue and returns its
// Meta. When it returns nil the message is durable as the sync policy says
// (SyncAlways: fsynced). It fails with an error wrapping ErrFull when a bound
// would be exceeded, ErrDisk when the write failed (the message is not
// stored; nothing else is lost), or ctx's error if ctx ended before the
// message's commit began (then it is not stored); once its commit has begun
// Append waits for it. Concurrent Appends share commits and fsyncs.
func (o *Outbox) Append(ctx context.Context, topic string, qos byte, payload []byte) (Meta, error) {
	if topic == "" {
		return Meta{}, errors.New("outbox: append: empty topic")
	}
	if len(topic) > maxTopic {
		return Meta{}, fmt.Errorf("outbox: append: topic of %d bytes, the limit is %d", len(topic), maxTopic)
	}
	if qos > 2 {
		return Meta{}, fmt.Errorf("outbox: append: qos %d, want 0, 1 or 2", qos)
	}
	if len(payload) > maxPayload {
		return Meta{}, fmt.Errorf("outbox: append: payload of %d bytes, MQTT's limit is %d", len(payload), maxPayload)
	}
	// Refuse at once what cannot fit now, without a trip to the writer
	// (the writer checks again: Appends ahead of this one count there).
	if err := o.precheck(1, int64(len(topic)+len(payload))); err != nil {
		return Meta{}, fmt.Errorf("outbox: append %s: %w", topic, err)
	}
	var m Meta
	p := &op{size: int64(len(payload)), run: func(tx *bolt.Tx, b *batch) error {
		size := int64(len(topic) + len(payload))
		if b.messages+1 > o.opts.MaxMessages || b.bytes+size > o.opts.MaxBytes {
			return o.fullError(b.messages, b.bytes, size)
		}
		m = Meta{Seq: b.nextSeq, Topic: topic, QoS: qos, Size: len(payload), Accepted: fromUnixNano(time.Now().UnixNano())}
		enc, err := encodeRecord(Record{Meta: m, Payload: payload})
		if err != nil {
			return err
		}
		if err := putRecord(tx.Bucket(bucketPending), m.Seq, enc); err != nil {
			return abort(err)
		}
		b.nextSeq++
		b.messages++
		b.bytes += size
		meta := m
		b.effects = append(b.effects, func() { o.pending.Push(meta) })
		return nil
	}}
	if err := o.submit(ctx, p); err != nil {
		return Meta{}, fmt.Errorf("outbox: append %s: %w", topic, err)
	}
	return m, nil
}

// Pending returns a snapshot of the pending messages, oldest (lowest Seq)
// first. It never touches the disk.
func (o *Outbox) Pending() []Meta {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pending.Snapshot()
}

// Payload returns a copy of a pending message's payload, read from the
// file. It fails with ErrNotFound for a Seq that is not pending (removed,
// parked, never stored) and with ErrCorrupt for a record that fails its
// checks (the caller may Park it).
func (o *Outbox) Payload(seq uint64) ([]byte, error) {
	if err := o.enter(); err != nil {
		return nil, err
	}
	defer o.closeMu.RUnlock()
	o.mu.Lock()
	_, ok := o.pending.Get(seq)
	o.mu.Unlock()
	if !ok {
		// Removed (perhaps not yet deleted from the file) or never stored.
		return nil, fmt.Errorf("outbox: payload of %d: %w", seq, ErrNotFound)
	}
	var out []byte
	err := o.view(func(tx *bolt.Tx) error {
		v, err := getRecord(tx.Bucket(bucketPending), seq)
		if err != nil {
			return err
		}
		r, err := decodeStored(seq, v)
		if err != nil {
			return err
		}
		out = bytes.Clone(r.Payload)
		if out == nil {
			out = []byte{}
		}
		if o.touched.Add(int64(len(v))) >= releaseEvery {
			o.releaseLocked(tx)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: payload of %d: %w", seq, err)
	}
	return out, nil
}

// Remove takes messages out of the pending queue (after their PUBACK).
// Seqs that are not pending are ignored, so a repeated Remove is harmless.
// It changes the in-memory state at once and never waits for the disk: the
// deletion is written with the next commit, within Options.SyncInterval, or
// by Close. A deletion lost in a crash means the message is sent again
// (at-least-once).
func (o *Outbox) Remove(seqs ...uint64) error {
	if err := o.enter(); err != nil {
		return err
	}
	defer o.closeMu.RUnlock()
	o.mu.Lock()
	n := 0
	for _, seq := range seqs {
		if _, ok := o.pending.Remove(seq); ok {
			o.deletes = append(o.deletes, seq)
			n++
		}
	}
	o.mu.Unlock()
	if n > 0 {
		o.kickWriter()
	}
	return nil
}

// RemoveOldest removes up to n of the oldest pending messages for which
// skip returns false (skip reports a message that is in flight; nil skips
// none) and returns what it removed, oldest first. It is the "drop oldest"
// overflow policy's helper and, like Remove, does not wait for the disk.
// skip is called without any outbox lock held.
func (o *Outbox) RemoveOldest(n int, skip func(seq uint64) bool) ([]Meta, error) {
	if err := o.enter(); err != nil {
		return nil, err
	}
	defer o.closeMu.RUnlock()
	if n <= 0 {
		return nil, nil
	}
	picked := PickOldest(o.Pending(), n, skip)
	var removed []Meta
	o.mu.Lock()
	for _, seq := range picked {
		if len(removed) == n {
			break
		}
		if m, ok := o.pending.Remove(seq); ok {
			removed = append(removed, m)
			o.deletes = append(o.deletes, seq)
		}
	}
	o.mu.Unlock()
	if len(removed) > 0 {
		o.kickWriter()
	}
	return removed, nil
}

// SetAttempts records that n MQTT sessions ended while the message was
// being sent. Durable as the sync policy says when it returns nil (it
// rewrites the record, so call it once per session end, not per send).
func (o *Outbox) SetAttempts(seq uint64, n int) error {
	if n < 0 {
		return fmt.Errorf("outbox: set attempts of %d: negative count %d", seq, n)
	}
	p := &op{run: func(tx *bolt.Tx, b *batch) error {
		bk := tx.Bucket(bucketPending)
		v, err := getRecord(bk, seq)
		if err != nil {
			return err
		}
		o.touched.Add(int64(len(v)))
		r, err := decodeStored(seq, v)
		if err != nil {
			return err
		}
		r.Attempts = n
		enc, err := encodeRecord(r)
		if err != nil {
			return err
		}
		if err := putRecord(bk, seq, enc); err != nil {
			return abort(err)
		}
		b.effects = append(b.effects, func() { o.pending.SetAttempts(seq, n) })
		return nil
	}}
	if err := o.submit(context.Background(), p); err != nil {
		return fmt.Errorf("outbox: set attempts of %d: %w", seq, err)
	}
	return nil
}

// Park moves a pending message to the dead letters with reason and returns
// it (payload included). It is durable as the sync policy says when it
// returns nil. A record that fails its checks is parked as it is stored,
// with "corrupt record: " and the failure added to reason. When the dead
// letters exceed Options.MaxDeadLetters the oldest is dropped (logged at
// warn).
func (o *Outbox) Park(seq uint64, reason string) (Record, error) {
	reason = cut(reason, maxReason)
	var rec Record
	p := &op{run: func(tx *bolt.Tx, b *batch) error {
		pb := tx.Bucket(bucketPending)
		v, err := getRecord(pb, seq)
		if errors.Is(err, ErrNotFound) {
			return err
		}
		o.touched.Add(int64(len(v)))
		var r Record
		if err == nil {
			r, err = decodeStored(seq, v)
		}
		if err != nil {
			r = o.salvage(seq, v, err)
			r.Reason = cut(r.Reason+" (parked: "+reason+")", maxReason)
		} else {
			r.Reason = reason
		}
		r.Parked = fromUnixNano(time.Now().UnixNano())
		enc, err := encodeRecord(r)
		if err != nil {
			return err
		}
		if err := putRecord(tx.Bucket(bucketDead), seq, enc); err != nil {
			return abort(err)
		}
		if err := deleteRecord(pb, seqKey(seq)); err != nil {
			return abort(err)
		}
		r.Payload = bytes.Clone(r.Payload)
		rec = r
		size := int64(len(r.Topic) + r.Size)
		b.messages--
		b.bytes -= size
		b.dead++
		b.deadBytes += size
		b.effects = append(b.effects, func() {
			// A concurrent Remove may have taken it from memory already;
			// its deletion from the pending bucket is then a no-op.
			o.pending.Remove(seq)
			o.dead++
			o.deadBytes += size
		})
		return o.evictDead(tx, b)
	}}
	if err := o.submit(context.Background(), p); err != nil {
		return Record{}, fmt.Errorf("outbox: park %d: %w", seq, err)
	}
	return rec, nil
}

// Dead returns the dead letters, oldest (lowest Seq) first, payloads
// included. A dead letter that fails its checks is returned as stored,
// with a Reason that starts with "corrupt record: ".
func (o *Outbox) Dead() ([]Record, error) {
	if err := o.enter(); err != nil {
		return nil, err
	}
	defer o.closeMu.RUnlock()
	var out []Record
	err := o.view(func(tx *bolt.Tx) error {
		db := tx.Bucket(bucketDead)
		c := db.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			seq, ok := keySeqOf(k)
			if !ok {
				continue
			}
			v, err := recordIn(db, k, v)
			var r Record
			if err == nil {
				o.touched.Add(int64(len(v)))
				r, err = decodeStored(seq, v)
			}
			if err != nil {
				r = o.salvage(seq, v, err)
			}
			r.Payload = bytes.Clone(r.Payload)
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: dead letters: %w", err)
	}
	o.maybeRelease()
	return out, nil
}

// Retry moves a dead letter back to the tail of the pending queue with a
// new Seq and Attempts 0, subject to the bounds (ErrFull), and returns its
// new Meta. Durable as the sync policy says when it returns nil. A dead
// letter that fails its checks cannot be retried (ErrCorrupt); Drop it.
func (o *Outbox) Retry(seq uint64) (Meta, error) {
	var m Meta
	p := &op{run: func(tx *bolt.Tx, b *batch) error {
		db := tx.Bucket(bucketDead)
		v, err := getRecord(db, seq)
		if err != nil {
			return err
		}
		o.touched.Add(int64(len(v)))
		r, err := decodeStored(seq, v)
		if err != nil {
			return err
		}
		if strings.HasPrefix(r.Reason, corruptPrefix) {
			return fmt.Errorf("%w: %s; drop it instead", ErrCorrupt, r.Reason)
		}
		size := int64(len(r.Topic) + r.Size)
		if b.messages+1 > o.opts.MaxMessages || b.bytes+size > o.opts.MaxBytes {
			return o.fullError(b.messages, b.bytes, size)
		}
		r.Seq = b.nextSeq
		r.Attempts = 0
		r.Reason = ""
		r.Parked = time.Time{}
		enc, err := encodeRecord(r)
		if err != nil {
			return err
		}
		if err := putRecord(tx.Bucket(bucketPending), r.Seq, enc); err != nil {
			return abort(err)
		}
		if err := deleteRecord(db, seqKey(seq)); err != nil {
			return abort(err)
		}
		b.nextSeq++
		b.messages++
		b.bytes += size
		b.dead--
		b.deadBytes -= size
		m = r.Meta
		meta := r.Meta
		b.effects = append(b.effects, func() {
			o.pending.Push(meta)
			o.dead--
			o.deadBytes -= size
		})
		return nil
	}}
	if err := o.submit(context.Background(), p); err != nil {
		return Meta{}, fmt.Errorf("outbox: retry %d: %w", seq, err)
	}
	return m, nil
}

// Drop deletes a dead letter. Durable as the sync policy says when it
// returns nil.
func (o *Outbox) Drop(seq uint64) error {
	p := &op{run: func(tx *bolt.Tx, b *batch) error {
		db := tx.Bucket(bucketDead)
		v, err := getRecord(db, seq)
		if errors.Is(err, ErrNotFound) {
			return err
		}
		size := storedSize(v)
		if err := deleteRecord(db, seqKey(seq)); err != nil {
			return abort(err)
		}
		b.dead--
		b.deadBytes -= size
		b.effects = append(b.effects, func() {
			o.dead--
			o.deadBytes -= size
		})
		return nil
	}}
	if err := o.submit(context.Background(), p); err != nil {
		return fmt.Errorf("outbox: drop %d: %w", seq, err)
	}
	return nil
}

// Usage returns what the outbox holds. It does not touch the file's
// contents (only its size).
func (o *Outbox) Usage() Usage {
	o.mu.Lock()
	u := Usage{
		Messages:    o.pending.Len(),
		Bytes:       o.pending.Bytes(),
		MaxMessages: o.opts.MaxMessages,
		MaxBytes:    o.opts.MaxBytes,
		Dead:        o.dead,
		DeadBytes:   o.deadBytes,
	}
	o.mu.Unlock()
	u.FileBytes = fileSize(o.path)
	return u
}

// Close waits for calls in progress, writes pending deletions, fsyncs
// (except with SyncNever) and closes the file. Later calls fail with
// ErrClosed; a second Close returns nil.
func (o *Outbox) Close() error {
	o.closeMu.Lock()
	if o.closed {
		o.closeMu.Unlock()
		return nil
	}
	o.closed = true
	o.closeMu.Unlock()
	close(o.quit)
	<-o.stopped
	err := o.closeErr
	if cerr := o.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("%w: close %s: %w", ErrDisk, o.path, cerr)
	}
	return err
}

// enter takes closeMu shared; the caller must RUnlock it when it got nil.
func (o *Outbox) enter() error {
	o.closeMu.RLock()
	if o.closed {
		o.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

// precheck refuses n messages of size bytes that do not fit in the
// committed usage.
func (o *Outbox) precheck(n int, size int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending.Len()+n > o.opts.MaxMessages || o.pending.Bytes()+size > o.opts.MaxBytes {
		return o.fullError(o.pending.Len(), o.pending.Bytes(), size)
	}
	return nil
}

func (o *Outbox) fullError(messages int, used, size int64) error {
	return FullError(o.opts, messages, used, size)
}

func (o *Outbox) kickWriter() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// evictDead drops the oldest dead letters while there are more than
// MaxDeadLetters.
func (o *Outbox) evictDead(tx *bolt.Tx, b *batch) error {
	db := tx.Bucket(bucketDead)
	for b.dead > o.opts.MaxDeadLetters {
		k, v := db.Cursor().First()
		if k == nil {
			return nil
		}
		k = bytes.Clone(k)
		seq, _ := keySeqOf(k)
		v, _ = recordIn(db, k, v)
		size := storedSize(v)
		h, _ := decodeHeader(v)
		if err := deleteRecord(db, k); err != nil {
			return abort(err)
		}
		b.dead--
		b.deadBytes -= size
		b.effects = append(b.effects, func() {
			o.dead--
			o.deadBytes -= size
			o.log.Warn("outbox: dead letter dropped: more than outbox.max_dead_letters",
				"seq", seq, "topic", h.Topic, "reason", h.Reason, "max_dead_letters", o.opts.MaxDeadLetters)
		})
	}
	return nil
}

const corruptPrefix = "corrupt record: "

// salvage makes a Record of a stored value that failed its checks, so that
// it can be parked and shown instead of lost: what its header still tells,
// or failing that the raw bytes as payload.
func (o *Outbox) salvage(seq uint64, v []byte, cause error) Record {
	r, err := decodeHeader(v)
	if err == nil && r.Seq == seq {
		body := len(v) - crcLen
		r.Payload = v[body-r.Size : body : body]
		if !strings.HasPrefix(r.Reason, corruptPrefix) {
			r.Reason = cut(corruptPrefix+cause.Error()+prevReason(r.Reason), maxReason)
		}
		return r
	}
	return Record{
		Meta:    Meta{Seq: seq, QoS: 1, Size: len(v)},
		Payload: v,
		Reason:  cut(corruptPrefix+cause.Error(), maxReason),
	}
}

func prevReason(r string) string {
	if r == "" {
		return ""
	}
	return " (parked: " + r + ")"
}

// decodeStored decodes the value stored under seq's key.
func decodeStored(seq uint64, v []byte) (Record, error) {
	r, err := decodeRecord(v)
	if err != nil {
		return Record{}, err
	}
	if r.Seq != seq {
		return Record{}, fmt.Errorf("%w: record says seq %d under key %d", ErrCorrupt, r.Seq, seq)
	}
	return r, nil
}

// storedSize is the payload plus topic bytes a stored value accounts for.
func storedSize(v []byte) int64 {
	if r, err := decodeHeader(v); err == nil {
		return int64(len(r.Topic) + r.Size)
	}
	return int64(len(v))
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

func keySeqOf(k []byte) (uint64, bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func formatBytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}
