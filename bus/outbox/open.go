package outbox

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// lockTimeout is how long Open waits for another process's lock on the file.
const lockTimeout = time.Second

// Open opens the outbox file at path, creating it (mode 0600) if it does
// not exist; its directory must exist. A file that others may read is made
// private (0600) and a warning logged.
//
// Open fails
//   - with an error wrapping ErrLocked, within about a second, when another
//     process (another iotd on the same state dir) holds the file;
//   - with an error wrapping ErrCorrupt, naming the path and what to do,
//     when the file is not a bbolt database, is not an outbox, or its
//     structure is damaged. Open never truncates or rewrites such a file:
//     move it aside and iotd starts with an empty outbox.
//
// Open reads every record and checks it. A pending record that fails its
// checks is moved to the dead letters with a Reason starting with
// "corrupt record: " (its payload as stored), and logged at warn. A file
// of format version 1 is converted to version 2 (see convertPlain).
func Open(path string, opts Options) (*Outbox, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	makePrivate(path, log)

	db, file, err := openBolt(path, &bolt.Options{
		Timeout: lockTimeout,
		// SyncAlways commits fsync; the others leave it to the writer.
		NoSync: opts.Sync != SyncAlways,
	})
	if err != nil {
		return nil, openError(path, err)
	}
	o := &Outbox{
		db:      db,
		file:    file,
		path:    path,
		opts:    opts,
		log:     log,
		reqs:    make(chan *op, maxBatchOps),
		kick:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if err := o.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	go o.run()
	return o, nil
}

func (opts Options) withDefaults() (Options, error) {
	switch {
	case opts.MaxMessages < 0:
		return opts, fmt.Errorf("outbox.max_messages: %d, want a positive number (0: the default, %d)", opts.MaxMessages, DefaultMaxMessages)
	case opts.MaxBytes < 0:
		return opts, fmt.Errorf("outbox.max_bytes: %d, want a positive number (0: the default, %d)", opts.MaxBytes, DefaultMaxBytes)
	case opts.MaxDeadLetters < 0:
		return opts, fmt.Errorf("outbox.max_dead_letters: %d, want a positive number (0: the default, %d)", opts.MaxDeadLetters, DefaultMaxDeadLetters)
	case opts.SyncInterval < 0:
		return opts, fmt.Errorf("outbox.sync_interval: %s, want a positive duration (0: the default, %s)", opts.SyncInterval, DefaultSyncInterval)
	}
	switch opts.Sync {
	case "":
		opts.Sync = SyncAlways
	case SyncAlways, SyncInterval, SyncNever:
	default:
		return opts, fmt.Errorf("outbox.sync: %q, want %q, %q or %q", opts.Sync, SyncAlways, SyncInterval, SyncNever)
	}
	if opts.MaxMessages == 0 {
		opts.MaxMessages = DefaultMaxMessages
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxDeadLetters == 0 {
		opts.MaxDeadLetters = DefaultMaxDeadLetters
	}
	if opts.SyncInterval == 0 {
		opts.SyncInterval = DefaultSyncInterval
	}
	return opts, nil
}

// makePrivate makes an existing file 0600: it holds the device's messages.
// Windows has no such mode bits.
func makePrivate(path string, log *slog.Logger) {
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	if err := os.Chmod(path, 0o600); err != nil {
		log.Warn("outbox: file is accessible to group or others and its mode cannot be fixed", "path", path, "mode", fi.Mode().Perm().String(), "err", err)
		return
	}
	log.Warn("outbox: file was accessible to group or others; made it 0600", "path", path, "was", fi.Mode().Perm().String())
}

// openBolt opens the bbolt file, turning a panic (or a fault in its
// mapping) while bbolt reads a damaged file into an error, and closing the
// file (which releases its lock) in that case.
func openBolt(path string, bo *bolt.Options) (db *bolt.DB, file *os.File, err error) {
	bo.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				_ = file.Close()
			}
			db, file, err = nil, nil, fmt.Errorf("%w: bbolt: %v", ErrCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, bo)
	return db, file, err
}

func openError(path string, err error) error {
	var (
		pe    *fs.PathError
		errno syscall.Errno
	)
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %s: another iotd uses this state dir (the file is locked by another process); stop it, or give this one a state dir of its own", ErrLocked, path)
	case errors.Is(err, ErrCorrupt):
		return corruptError(path, err)
	case errors.As(err, &pe), errors.As(err, &errno):
		return fmt.Errorf("outbox: open %s: %w", path, err)
	}
	// What bbolt reports about the contents: invalid or mismatched meta
	// pages, a wrong version, a file too small...
	return corruptError(path, err)
}

// corruptError reports a damaged or foreign file: where it is and what to
// do about it.
func corruptError(path string, cause error) error {
	var fe *corruptFileError
	if errors.As(cause, &fe) {
		return fe
	}
	return &corruptFileError{path: path, cause: cause}
}

type corruptFileError struct {
	path  string
	cause error
}

func (e *corruptFileError) Error() string {
	msg := strings.TrimPrefix(e.cause.Error(), ErrCorrupt.Error()+": ")
	return fmt.Sprintf("%s: %s: %s; the file is left as it is: move it aside (iotd then starts with an empty outbox) and keep it for inspection", ErrCorrupt, e.path, msg)
}

func (e *corruptFileError) Unwrap() []error { return []error{ErrCorrupt, e.cause} }

// load checks the file's layout, creates it in a new file, reads every
// record into memory (metadata only), parks the corrupt ones and converts
// a version 1 file.
func (o *Outbox) load() error {
	var (
		fresh   bool
		version byte
	)
	err := o.view(func(tx *bolt.Tx) error {
		mb := tx.Bucket(bucketMeta)
		if mb == nil {
			if k, _ := tx.Cursor().First(); k != nil {
				return fmt.Errorf("%w: not an iotd outbox (it holds %q and no %q)", ErrCorrupt, k, bucketMeta)
			}
			fresh = true
			return nil
		}
		c := tx.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			switch string(k) {
			case string(bucketMeta), string(bucketPending), string(bucketDead):
				if v == nil {
					continue
				}
			}
			return fmt.Errorf("%w: unexpected top-level entry %q", ErrCorrupt, k)
		}
		v := mb.Get(keyFormat)
		switch {
		case len(v) != 1:
			return fmt.Errorf("%w: no format version", ErrCorrupt)
		case v[0] > formatVersion:
			return fmt.Errorf("format version %d, this iotd reads up to %d: it was written by a newer iotd; upgrade iotd, or move the file aside", v[0], formatVersion)
		case v[0] < 1:
			return fmt.Errorf("%w: format version %d", ErrCorrupt, v[0])
		}
		version = v[0]
		// The three buckets are created together: one missing means
		// damage, and creating it afresh would drop what it held.
		if tx.Bucket(bucketPending) == nil || tx.Bucket(bucketDead) == nil {
			return fmt.Errorf("%w: the %q or %q bucket is missing", ErrCorrupt, bucketPending, bucketDead)
		}
		// Before anything is written to it: bbolt trusts its freelist.
		return checkPages(o.file, o.db.Info().PageSize, uint64(tx.ID()))
	})
	if err != nil {
		return o.loadError(err)
	}
	if fresh {
		err := o.update(func(tx *bolt.Tx) error {
			mb, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if err := mb.Put(keyFormat, []byte{formatVersion}); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketPending); err != nil {
				return err
			}
			_, err = tx.CreateBucket(bucketDead)
			return err
		})
		if err != nil {
			return o.loadError(err)
		}
		version = formatVersion
	}

	var (
		bad     []uint64
		causes  = map[uint64]error{}
		skipped int
		maxSeq  uint64
		// Large records stored as plain values (as version 1 did), to
		// convert.
		plainPending, plainDead []uint64
	)
	o.pending.Reset()
	err = o.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySeq); len(v) == 8 {
			maxSeq, _ = keySeqOf(v)
		}
		// Every record is read through the mapping to check it: hand the
		// pages back as the scan goes, or a full queue would be resident.
		touch := func(n int) {
			if o.touched.Add(int64(n)) >= releaseEvery {
				o.releaseLocked(tx)
			}
		}
		pb := tx.Bucket(bucketPending)
		err := eachInOrder(pb, "pending records", &skipped, &maxSeq, func(seq uint64, k, v []byte) {
			rec, err := recordIn(pb, k, v)
			var r Record
			if err == nil {
				touch(len(rec) + faultAround)
				r, err = decodeStored(seq, rec)
			}
			if err != nil {
				bad = append(bad, seq)
				causes[seq] = err
				return
			}
			if len(v) > maxPlain {
				plainPending = append(plainPending, seq)
			}
			o.pending.Push(r.Meta)
		})
		if err != nil {
			return err
		}
		db := tx.Bucket(bucketDead)
		return eachInOrder(db, "dead letters", &skipped, &maxSeq, func(seq uint64, k, v []byte) {
			// Only the header is read (a corrupt dead letter stays one).
			rec, _ := recordIn(db, k, v)
			touch(faultAround)
			if len(v) > maxPlain {
				plainDead = append(plainDead, seq)
			}
			o.dead++
			o.deadBytes += storedSize(rec)
		})
	})
	if err != nil {
		return o.loadError(err)
	}
	o.nextSeq = maxSeq + 1
	if skipped > 0 {
		o.log.Warn("outbox: entries with malformed keys skipped", "path", o.path, "count", skipped)
	}
	o.release()

	if version < formatVersion {
		// First, so that an older iotd never reads a file partly converted.
		err := o.update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyFormat, []byte{formatVersion})
		})
		if err != nil {
			return o.loadError(err)
		}
		o.log.Info("outbox: file upgraded to format version 2", "path", o.path, "from", version)
	}
	if len(bad) > 0 {
		ops := make([]*op, 0, len(bad))
		for _, seq := range bad {
			o.log.Warn("outbox: corrupt record moved to the dead letters", "path", o.path, "seq", seq, "err", causes[seq])
			ops = append(ops, o.parkCorrupt(seq, causes[seq]))
		}
		o.commit(ops)
		for _, p := range ops {
			if p.err != nil {
				return o.loadError(p.err)
			}
		}
	}
	o.convertPlain(bucketPending, plainPending)
	o.convertPlain(bucketDead, plainDead)
	return nil
}

// parkCorrupt is the request that moves a pending record that failed its
// checks at Open to the dead letters.
func (o *Outbox) parkCorrupt(seq uint64, cause error) *op {
	return &op{done: make(chan struct{}), run: func(tx *bolt.Tx, b *batch) error {
		pb := tx.Bucket(bucketPending)
		v, err := getRecord(pb, seq)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: record %d is listed but cannot be looked up (damaged key order)", ErrCorrupt, seq)
		}
		r := o.salvage(seq, v, cause)
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
		size := int64(len(r.Topic) + r.Size)
		b.dead++
		b.deadBytes += size
		b.effects = append(b.effects, func() {
			o.dead++
			o.deadBytes += size
		})
		return o.evictDead(tx, b)
	}}
}

func (o *Outbox) loadError(err error) error {
	if errors.Is(err, ErrCorrupt) {
		return corruptError(o.path, err)
	}
	return fmt.Errorf("outbox: open %s: %w", o.path, err)
}

// fileSize is the file's size on disk, 0 if it cannot be read.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// eachInOrder calls fn for every entry of b whose key is a seq, in key
// order, counting malformed keys in skipped and the highest seq in maxSeq.
// Keys out of order are corruption: bbolt finds keys by their order, and
// writing to a tree out of order would misplace them.
func eachInOrder(b *bolt.Bucket, what string, skipped *int, maxSeq *uint64, fn func(seq uint64, k, v []byte)) error {
	var prev uint64
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq, ok := keySeqOf(k)
		if !ok {
			*skipped++
			continue
		}
		if seq <= prev {
			return fmt.Errorf("%w: %s out of order (%d after %d)", ErrCorrupt, what, seq, prev)
		}
		prev = seq
		*maxSeq = max(*maxSeq, seq)
		fn(seq, k, v)
	}
	return nil
}
