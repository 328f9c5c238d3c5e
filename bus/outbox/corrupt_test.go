package outbox

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/iotd/iotd/internal/testlog"
)

func TestOpenRandomBytes(t *testing.T) {
	for _, size := range []int{1, 4096, 64 << 10} {
		path := tempPath(t)
		junk := make([]byte, size)
		r := rand.New(rand.NewPCG(1, uint64(size)))
		for i := range junk {
			junk[i] = byte(r.Uint32())
		}
		require.NoError(t, os.WriteFile(path, junk, 0o600))

		_, err := Open(path, Options{})
		require.ErrorIs(t, err, ErrCorrupt)
		assert.ErrorContains(t, err, path)
		assert.ErrorContains(t, err, "move it aside")
		got, rerr := os.ReadFile(path)
		require.NoError(t, rerr)
		assert.True(t, bytes.Equal(junk, got), "a corrupt file is never rewritten")
	}
}

func TestOpenForeignBolt(t *testing.T) {
	path := tempPath(t)
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("someone-else"))
		return err
	}))
	require.NoError(t, db.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	_, err = Open(path, Options{})
	require.ErrorIs(t, err, ErrCorrupt)
	assert.ErrorContains(t, err, "not an iotd outbox")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after))
}

func TestOpenNewerFormat(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	require.NoError(t, o.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyFormat, []byte{formatVersion + 1})
	}))
	require.NoError(t, db.Close())

	_, err = Open(path, Options{})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrCorrupt, "a newer file is not damaged")
	assert.ErrorContains(t, err, "written by a newer iotd")
}

func TestOpenMissingBucket(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	appendT(t, o, "t", []byte("x"))
	require.NoError(t, o.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketPending) }))
	require.NoError(t, db.Close())
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	_, err = Open(path, Options{})
	require.ErrorIs(t, err, ErrCorrupt, "not silently recreated empty")
	assert.ErrorContains(t, err, `"pending"`)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after))
}

// A record with a flipped byte is found at Open and moved to the dead
// letters; the others stay pending.
func TestOpenCorruptRecord(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	appendT(t, o, "t", []byte("first"))
	payload := bytes.Repeat([]byte("...."), 2000)
	copy(payload[4000:], "MARK")
	bad := appendT(t, o, "t", payload)
	appendT(t, o, "t", []byte("third"))
	require.NoError(t, o.Close())

	// bbolt copies a leaf on write, so a freed older copy of the record may
	// be in the file too: flip the byte in every copy.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	n := 0
	for i := 0; ; n++ {
		j := bytes.Index(raw[i:], []byte("MARK"))
		if j < 0 {
			break
		}
		raw[i+j] ^= 0x01
		i += j + 4
	}
	require.Positive(t, n)
	require.NoError(t, os.WriteFile(path, raw, 0o600))

	var logs testlog.Buffer
	o = openT(t, path, Options{Log: logTo(&logs)})
	assert.Equal(t, []uint64{1, 3}, seqs(o.Pending()))
	dead, err := o.Dead()
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, bad.Seq, dead[0].Seq)
	assert.Equal(t, "t", dead[0].Topic, "what the header still tells is kept")
	assert.Contains(t, dead[0].Reason, "corrupt record: ")
	assert.Contains(t, dead[0].Reason, "checksum mismatch")
	assert.Len(t, dead[0].Payload, bad.Size, "the payload as stored")
	assert.Contains(t, logs.String(), "corrupt record moved to the dead letters")
	_, err = o.Retry(bad.Seq)
	require.ErrorIs(t, err, ErrCorrupt, "a corrupt record is not sent again")
	require.NoError(t, o.Drop(bad.Seq))

	require.NoError(t, o.Close())
	o = openT(t, path, Options{})
	assert.Equal(t, []uint64{1, 3}, seqs(o.Pending()))
	assert.Equal(t, uint64(4), appendT(t, o, "t", nil).Seq)
}

// A record whose header cannot be read is parked with its raw bytes.
func TestOpenUnreadableRecord(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	appendT(t, o, "t", []byte("ok"))
	require.NoError(t, o.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).Put(seqKey(7), []byte("garbage"))
	}))
	require.NoError(t, db.Close())

	o = openT(t, path, Options{})
	assert.Equal(t, []uint64{1}, seqs(o.Pending()))
	dead, err := o.Dead()
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, uint64(7), dead[0].Seq)
	assert.Equal(t, "garbage", string(dead[0].Payload))
	assert.Contains(t, dead[0].Reason, "corrupt record: ")
	assert.Equal(t, uint64(8), appendT(t, o, "t", nil).Seq, "seqs found in the file are not handed out again")
}

// Flipping bytes anywhere in the file never crashes Open or the calls
// after it: either Open refuses the file, or the outbox works on what it
// could read.
func TestOpenFlippedBytesNoPanic(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{Sync: SyncNever})
	for i := range 40 {
		appendT(t, o, "prod/dev/up", bytes.Repeat([]byte{byte(i)}, 100+i*50))
	}
	for seq := uint64(1); seq <= 5; seq++ {
		_, err := o.Park(seq, "x")
		require.NoError(t, err)
	}
	require.NoError(t, o.Close())
	// Records above maxPlain (1 KiB) are buckets with pages of their own;
	// add the inline kind too.
	putInline(t, path, 41, []byte("inline 41"))
	putInline(t, path, 42, []byte("inline 42"))
	orig, err := os.ReadFile(path)
	require.NoError(t, err)

	r := rand.New(rand.NewPCG(7, 7))
	opened := 0
	for range flipRounds {
		b := bytes.Clone(orig)
		for range 1 + r.IntN(8) {
			i := r.IntN(len(b))
			if r.IntN(2) == 0 {
				// Aim at page headers and element tables, where bbolt
				// keeps its structure.
				i = min(i-i%4096+r.IntN(128), len(b)-1)
			}
			b[i] ^= byte(1 + r.IntN(255))
		}
		p := tempPath(t)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		o, err := Open(p, Options{Sync: SyncNever})
		if err != nil {
			if !strings.Contains(err.Error(), "newer iotd") { // a flipped format version
				require.ErrorIs(t, err, ErrCorrupt)
			}
			continue
		}
		opened++
		for _, m := range o.Pending() {
			_, _ = o.Payload(m.Seq)
		}
		_, _ = o.Dead()
		_, _ = o.Append(t.Context(), "t", 1, []byte("after"))
		if ms := o.Pending(); len(ms) > 0 {
			_, _ = o.Park(ms[0].Seq, "x")
		}
		_ = o.Close()
	}
	t.Logf("%d of %d damaged files opened", opened, flipRounds)
}

func TestOpenLocked(t *testing.T) {
	path := tempPath(t)
	openT(t, path, Options{})
	start := time.Now()
	_, err := Open(path, Options{})
	require.ErrorIs(t, err, ErrLocked)
	assert.ErrorContains(t, err, "another iotd uses this state dir")
	assert.ErrorContains(t, err, path)
	assert.Less(t, time.Since(start), 5*time.Second, "fails fast (bound generous for slow CI)")
}

var flipRounds = 100
