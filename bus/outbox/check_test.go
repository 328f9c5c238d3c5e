package outbox

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// requireRefused opens raw written to a file of its own and wants it
// refused as corrupt with want in the message, the file left as it was.
func requireRefused(t *testing.T, raw []byte, want string) {
	t.Helper()
	path := tempPath(t)
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	_, err := Open(path, Options{})
	require.ErrorIs(t, err, ErrCorrupt)
	assert.ErrorContains(t, err, want)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(raw, after), "a corrupt file is never rewritten")
}

// inlinePages finds each copy of the inline bucket holding the record of
// topic "t" whose payload is marker, and returns where its leaf page
// starts (after the bucket header).
func inlinePages(raw, marker []byte) []int {
	var out []int
	for i := 0; ; {
		j := bytes.Index(raw[i:], marker)
		if j < 0 {
			return out
		}
		rec := i + j - headerLen - len("t")
		i += j + 1
		page := rec - len(keyRecord) - elementLen - pageHeaderLen
		if page < bucketHeader || raw[rec-1] != keyRecord[0] ||
			binary.NativeEndian.Uint64(raw[page-bucketHeader:]) != 0 ||
			binary.NativeEndian.Uint16(raw[page+8:]) != leafPageFlag ||
			binary.NativeEndian.Uint16(raw[page+10:]) != 1 {
			continue
		}
		out = append(out, page)
	}
}

// Damage inside a record's bucket, inline or with pages of its own, is
// found by the page check at Open: refused, never a panic.
func TestCheckRecordBuckets(t *testing.T) {
	path := tempPath(t)
	o := openT(t, path, Options{})
	appendT(t, o, "t", []byte("small"))
	appendT(t, o, "t", payloadOf(2, 20<<10))
	appendT(t, o, "t", payloadOf(3, 20<<10))
	require.NoError(t, o.Close())
	marker := []byte("INLINE-MARK-0123456789")
	putInline(t, path, 4, marker)
	o = openT(t, path, Options{})
	require.Len(t, o.Pending(), 4, "the undamaged file opens")
	require.NoError(t, o.Close())

	var roots [2]uint64
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		for i, seq := range []uint64{2, 3} {
			roots[i] = uint64(tx.Bucket(bucketPending).Bucket(seqKey(seq)).Root())
		}
		return nil
	}))
	require.NoError(t, db.Close())
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	pages := inlinePages(orig, marker)
	require.NotEmpty(t, pages)

	inline := func(damage func(b []byte, page int)) []byte {
		b := bytes.Clone(orig)
		for _, p := range pages {
			damage(b, p)
		}
		return b
	}
	// rootOf2 rewrites the header of seq 2's bucket in its parent's leaf.
	rootOf2 := func(root uint64) []byte {
		b := bytes.Clone(orig)
		header := binary.NativeEndian.AppendUint64(seqKey(2), roots[0])
		n := 0
		for i := 0; ; n++ {
			j := bytes.Index(b[i:], header)
			if j < 0 {
				break
			}
			binary.NativeEndian.PutUint64(b[i+j+8:], root)
			i += j + len(header)
		}
		require.Positive(t, n)
		return b
	}
	tests := []struct {
		name string
		raw  []byte
		want string
	}{
		{"inline page type", inline(func(b []byte, p int) { binary.NativeEndian.PutUint16(b[p+8:], branchPageFlag) }), "inline bucket in entry 3 has page type 0x1"},
		{"inline count", inline(func(b []byte, p int) { binary.NativeEndian.PutUint16(b[p+10:], 200) }), "claims 200 entries"},
		{"inline value size", inline(func(b []byte, p int) {
			e := b[p+pageHeaderLen:]
			binary.NativeEndian.PutUint32(e[12:], binary.NativeEndian.Uint32(e[12:])+1000)
		}), "entry 0 runs past the bucket"},
		{"inline holds a bucket", inline(func(b []byte, p int) { binary.NativeEndian.PutUint32(b[p+pageHeaderLen:], bucketLeafFlag) }), "holds a bucket"},
		{"root past the file", rootOf2(1 << 40), "is outside the file"},
		{"root shared", rootOf2(roots[1]), "is used twice"},
		{"root on a meta page", rootOf2(1), "is outside the file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireRefused(t, tt.raw, tt.want)
		})
	}
}
