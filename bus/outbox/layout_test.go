package outbox

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/iotd/iotd/internal/testlog"
)

// stored is how a record is stored in the file.
type stored int

const (
	storedMissing stored = iota
	storedPlain          // a plain value under its key
	storedInline         // a bucket inline in its parent's leaf
	storedBucket         // a bucket with pages of its own
)

func (s stored) String() string {
	return [...]string{"missing", "plain", "inline bucket", "bucket"}[s]
}

// storedAs opens the closed outbox file with bbolt and tells how each seq
// is stored in the bucket named name.
func storedAs(t *testing.T, path string, name []byte, seqs ...uint64) []stored {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	var out []stored
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(name)
		require.NotNil(t, bk)
		for _, seq := range seqs {
			switch rb := bk.Bucket(seqKey(seq)); {
			case bk.Get(seqKey(seq)) != nil:
				out = append(out, storedPlain)
			case rb == nil:
				out = append(out, storedMissing)
			case rb.Root() == 0:
				out = append(out, storedInline)
			default:
				out = append(out, storedBucket)
			}
		}
		return nil
	}))
	return out
}

func formatOf(t *testing.T, path string) byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	var v []byte
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketMeta).Get(keyFormat))
		return nil
	}))
	require.Len(t, v, 1)
	return v[0]
}

func payloadOf(seq uint64, size int) []byte {
	p := bytes.Repeat([]byte{byte(seq)}, size)
	copy(p, fmt.Sprintf("payload %d", seq))
	return p
}

// Small records are plain values, large ones buckets with pages of their
// own, in both the pending and the dead bucket; every call works on both.
func TestLayout(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	small := appendT(t, o, "t", payloadOf(1, 100))
	large := appendT(t, o, "t", payloadOf(2, 200<<10))
	smallDead := appendT(t, o, "t", payloadOf(3, 100))
	largeDead := appendT(t, o, "t", payloadOf(4, 5000))
	for _, m := range []Meta{smallDead, largeDead} {
		_, err := o.Park(m.Seq, "poison")
		require.NoError(t, err)
	}
	require.NoError(t, o.SetAttempts(large.Seq, 2))
	require.NoError(t, o.SetAttempts(small.Seq, 1))
	require.NoError(t, o.Close())

	assert.Equal(t, byte(2), formatOf(t, path))
	assert.Equal(t, []stored{storedPlain, storedBucket, storedMissing, storedMissing}, storedAs(t, path, bucketPending, 1, 2, 3, 4))
	assert.Equal(t, []stored{storedPlain, storedBucket}, storedAs(t, path, bucketDead, 3, 4))

	o = openT(t, path, Options{MaxDeadLetters: 1})
	assert.Equal(t, []int{1, 2}, []int{o.Pending()[0].Attempts, o.Pending()[1].Attempts})
	for _, m := range o.Pending() {
		p, err := o.Payload(m.Seq)
		require.NoError(t, err)
		assert.Equal(t, payloadOf(m.Seq, m.Size), p)
	}
	dead, err := o.Dead()
	require.NoError(t, err)
	require.Len(t, dead, 2)
	assert.Equal(t, payloadOf(4, 5000), dead[1].Payload)
	m, err := o.Retry(largeDead.Seq)
	require.NoError(t, err)
	r, err := o.Park(large.Seq, "too large")
	require.NoError(t, err)
	assert.Equal(t, payloadOf(2, 200<<10), r.Payload)
	require.ErrorIs(t, o.Drop(large.Seq), ErrNotFound, "evicted at once: the oldest of two, MaxDeadLetters 1")
	require.NoError(t, o.Drop(smallDead.Seq))
	require.NoError(t, o.Remove(small.Seq))
	require.NoError(t, o.Close())

	assert.Equal(t, []stored{storedMissing, storedMissing, storedBucket}, storedAs(t, path, bucketPending, 1, 2, m.Seq))
	assert.Equal(t, []stored{storedMissing, storedMissing, storedMissing}, storedAs(t, path, bucketDead, 2, 3, 4))
	o = openT(t, path, Options{})
	assert.Equal(t, []uint64{m.Seq}, seqs(o.Pending()))
	p, err := o.Payload(m.Seq)
	require.NoError(t, err)
	assert.Equal(t, payloadOf(4, 5000), p, "retried under a new seq, same payload")
	assert.Zero(t, o.Usage().Dead)
}

// writeV1 writes an outbox file as format version 1 did: every record a
// plain value under its key.
func writeV1(t *testing.T, path string, pending, dead []Record, raw map[uint64][]byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		mb, err := tx.CreateBucket(bucketMeta)
		require.NoError(t, err)
		require.NoError(t, mb.Put(keyFormat, []byte{1}))
		var maxSeq uint64
		for name, recs := range map[string][]Record{string(bucketPending): pending, string(bucketDead): dead} {
			bk, err := tx.CreateBucket([]byte(name))
			require.NoError(t, err)
			for _, r := range recs {
				enc, err := encodeRecord(r)
				require.NoError(t, err)
				require.NoError(t, bk.Put(seqKey(r.Seq), enc))
				maxSeq = max(maxSeq, r.Seq)
			}
		}
		for seq, v := range raw {
			require.NoError(t, tx.Bucket(bucketPending).Put(seqKey(seq), v))
		}
		return mb.Put(keySeq, seqKey(maxSeq))
	}))
}

// A version 1 file is converted at Open: its large records move into
// buckets of their own, in several transactions, in order; nothing is lost
// and the corrupt record is parked as before.
func TestOpenVersion1(t *testing.T) {
	path := tempPath(t)
	accepted := time.Unix(0, 1700000000123456789)
	var pending, dead []Record
	for seq := uint64(1); seq <= 24; seq++ {
		size := 100
		if seq%2 == 0 {
			size = 900 << 10 // 12 of them: more than one conversion transaction
		}
		r := Record{Meta: Meta{Seq: seq, Topic: fmt.Sprintf("prod/dev/%d", seq), QoS: 1, Size: size, Accepted: accepted, Attempts: int(seq % 3)}, Payload: payloadOf(seq, size)}
		if seq == 5 || seq == 6 {
			r.Reason, r.Parked = "poison", accepted.Add(time.Second)
			dead = append(dead, r)
			continue
		}
		pending = append(pending, r)
	}
	garbage := bytes.Repeat([]byte("garbage"), 1000)
	writeV1(t, path, pending, dead, map[uint64][]byte{30: garbage})
	require.Equal(t, []stored{storedPlain, storedPlain, storedPlain}, storedAs(t, path, bucketPending, 1, 2, 30))

	var logs testlog.Buffer
	o := openT(t, path, Options{MaxBytes: 1 << 30, Log: logTo(&logs)})
	var want []Meta
	for _, r := range pending {
		want = append(want, r.Meta)
	}
	assert.Equal(t, want, o.Pending())
	for _, r := range pending {
		p, err := o.Payload(r.Seq)
		require.NoError(t, err)
		require.Equal(t, r.Payload, p, "seq %d", r.Seq)
	}
	got, err := o.Dead()
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, dead, got[:2])
	assert.Equal(t, uint64(30), got[2].Seq)
	assert.Contains(t, got[2].Reason, "corrupt record: ")
	assert.Equal(t, garbage, got[2].Payload)
	assert.Contains(t, logs.String(), "file upgraded to format version 2")
	assert.Contains(t, logs.String(), "bucket=pending count=11")
	assert.Contains(t, logs.String(), "bucket=dead count=1")
	assert.Equal(t, uint64(31), appendT(t, o, "t", nil).Seq)
	require.NoError(t, o.Close())

	assert.Equal(t, byte(2), formatOf(t, path))
	var all []uint64
	for _, r := range pending {
		all = append(all, r.Seq)
	}
	for i, s := range storedAs(t, path, bucketPending, all...) {
		want := storedPlain
		if pending[i].Size > maxPlain {
			want = storedBucket
		}
		assert.Equal(t, want, s, "seq %d", pending[i].Seq)
	}
	assert.Equal(t, []stored{storedPlain, storedBucket, storedBucket}, storedAs(t, path, bucketDead, 5, 6, 30))

	var logs2 testlog.Buffer
	o = openT(t, path, Options{MaxBytes: 1 << 30, Log: logTo(&logs2)})
	assert.Len(t, o.Pending(), len(pending)+1)
	assert.NotContains(t, logs2.String(), "converted", "nothing left to convert")
}

// A file whose conversion was cut short (format 2, some large records
// still plain values) opens with every record and is converted.
func TestOpenPartlyConverted(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	appendT(t, o, "t", payloadOf(1, 3000))
	require.NoError(t, o.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		enc, err := encodeRecord(Record{Meta: Meta{Seq: 2, Topic: "t", QoS: 1, Size: 3000}, Payload: payloadOf(2, 3000)})
		require.NoError(t, err)
		return tx.Bucket(bucketPending).Put(seqKey(2), enc)
	}))
	require.NoError(t, db.Close())
	require.Equal(t, []stored{storedBucket, storedPlain}, storedAs(t, path, bucketPending, 1, 2))

	o = openT(t, path, Options{})
	assert.Equal(t, []uint64{1, 2}, seqs(o.Pending()))
	p, err := o.Payload(2)
	require.NoError(t, err)
	assert.Equal(t, payloadOf(2, 3000), p)
	require.NoError(t, o.Close())
	assert.Equal(t, []stored{storedBucket, storedBucket}, storedAs(t, path, bucketPending, 1, 2))
}

// A record stored as an inline bucket (bbolt's choice for a small bucket;
// this outbox stores small records as plain values, but a page size other
// than 4 KiB or another writer may leave one) is read like any other.
func TestOpenInlineBucketRecord(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	appendT(t, o, "t", []byte("plain"))
	require.NoError(t, o.Close())
	putInline(t, path, 2, []byte("inline"))
	require.Equal(t, []stored{storedPlain, storedInline}, storedAs(t, path, bucketPending, 1, 2))

	o = openT(t, path, Options{})
	assert.Equal(t, []uint64{1, 2}, seqs(o.Pending()))
	p, err := o.Payload(2)
	require.NoError(t, err)
	assert.Equal(t, "inline", string(p))
	require.NoError(t, o.SetAttempts(2, 1))
	_, err = o.Park(2, "x")
	require.NoError(t, err)
	dead, err := o.Dead()
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, "inline", string(dead[0].Payload))
}

// putInline stores a record under seq in the pending bucket as a bucket
// bbolt keeps inline.
func putInline(t *testing.T, path string, seq uint64, payload []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		enc, err := encodeRecord(Record{Meta: Meta{Seq: seq, Topic: "t", QoS: 1, Size: len(payload)}, Payload: payload})
		require.NoError(t, err)
		rb, err := tx.Bucket(bucketPending).CreateBucket(seqKey(seq))
		require.NoError(t, err)
		return rb.Put(keyRecord, enc)
	}))
}

// A record's bucket that does not hold exactly one record is a corrupt
// record: parked at Open, its seq not handed out again.
func TestOpenMalformedRecordBucket(t *testing.T) {
	for _, tt := range []struct {
		name string
		fill func(rb *bolt.Bucket) error
		want string
	}{
		{"empty", func(*bolt.Bucket) error { return nil }, "holds no record"},
		{"other key", func(rb *bolt.Bucket) error { return rb.Put([]byte("x"), []byte("y")) }, "holds no record"},
		{"record is a bucket", func(rb *bolt.Bucket) error { _, err := rb.CreateBucket(keyRecord); return err }, "holds no record"},
		{"more than the record", func(rb *bolt.Bucket) error {
			enc, err := encodeRecord(Record{Meta: Meta{Seq: 7, Topic: "t", QoS: 1}})
			require.NoError(t, err)
			require.NoError(t, rb.Put(keyRecord, enc))
			_, err = rb.CreateBucket([]byte("s"))
			return err
		}, "holds more than the record"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			o := openT(t, path, Options{})
			appendT(t, o, "t", []byte("ok"))
			require.NoError(t, o.Close())
			db, err := bolt.Open(path, 0o600, nil)
			require.NoError(t, err)
			require.NoError(t, db.Update(func(tx *bolt.Tx) error {
				rb, err := tx.Bucket(bucketPending).CreateBucket(seqKey(7))
				require.NoError(t, err)
				return tt.fill(rb)
			}))
			require.NoError(t, db.Close())

			o = openT(t, path, Options{})
			assert.Equal(t, []uint64{1}, seqs(o.Pending()))
			dead, err := o.Dead()
			require.NoError(t, err)
			require.Len(t, dead, 1)
			assert.Equal(t, uint64(7), dead[0].Seq)
			assert.Contains(t, dead[0].Reason, "corrupt record: ")
			assert.Contains(t, dead[0].Reason, tt.want)
			assert.Equal(t, uint64(8), appendT(t, o, "t", nil).Seq)
			require.NoError(t, o.Drop(7))
		})
	}
}
