package outbox

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// A record larger than maxPlain is stored as a bucket of its own under its
// Seq's key, holding the encoded record under keyRecord; a smaller one as
// a plain value under the key (format version 2).
//
// bbolt rewrites a whole leaf page whenever one of its entries changes, and
// merges a leaf that deletions left small into its sibling, copying the
// sibling's entries. With large records as plain values a leaf held up to
// four of them (bbolt keeps at least two entries per page), so an Append
// rewrote the records beside it (4.5 bytes written per byte of a 900 KiB
// payload) and a deletion could read and copy megabytes of other records
// through the mapping (RSS). A bucket's entry in its parent is small: bbolt
// gives a bucket larger than a quarter page pages of its own and keeps only
// its 16-byte header in the parent. So the leaves hold headers and small
// records only; an Append writes the record's own pages and one small
// leaf, and DeleteBucket frees a record's pages by the header of its first
// page, without reading the record or its neighbours.
//
// A small record gains nothing from a bucket: bbolt would store the bucket
// inline in the leaf, as large as the record plus 49 bytes, and creating
// it costs CPU (about 4µs per Append on a desktop CPU).
var keyRecord = []byte("r")

// maxPlain is the largest record stored as a plain value: about what bbolt
// stores inline (a bucket up to a quarter of a 4 KiB page).
const maxPlain = 1 << 10

// putRecord stores enc as the record under seq in bk, replacing whatever
// is stored there.
func putRecord(bk *bolt.Bucket, seq uint64, enc []byte) error {
	k := seqKey(seq)
	if len(enc) <= maxPlain {
		err := bk.Put(k, enc)
		if errors.Is(err, berrors.ErrIncompatibleValue) { // a bucket is there
			if err := bk.DeleteBucket(k); err != nil {
				return err
			}
			err = bk.Put(k, enc)
		}
		return err
	}
	rb, err := bk.CreateBucket(k)
	if errors.Is(err, berrors.ErrBucketExists) || errors.Is(err, berrors.ErrIncompatibleValue) {
		if err := deleteRecord(bk, k); err != nil {
			return err
		}
		rb, err = bk.CreateBucket(k)
	}
	if err != nil {
		return err
	}
	return rb.Put(keyRecord, enc)
}

// deleteRecord deletes what is stored under k in bk, a record's bucket or a
// plain value; nothing stored there is no error.
func deleteRecord(bk *bolt.Bucket, k []byte) error {
	c := bk.Cursor()
	switch got, v := c.Seek(k); {
	case !bytes.Equal(got, k):
		return nil
	case v != nil:
		return c.Delete()
	}
	return bk.DeleteBucket(k)
}

// getRecord returns the encoded record stored under seq in bk. It fails
// with ErrNotFound when nothing is stored there and with ErrCorrupt when a
// bucket is stored there that does not hold exactly one record.
func getRecord(bk *bolt.Bucket, seq uint64) ([]byte, error) {
	k := seqKey(seq)
	got, v := bk.Cursor().Seek(k)
	if !bytes.Equal(got, k) {
		return nil, ErrNotFound
	}
	return recordIn(bk, k, v)
}

// recordIn returns the encoded record stored under k in bk, given the value
// v a cursor found there (nil: a bucket).
func recordIn(bk *bolt.Bucket, k, v []byte) ([]byte, error) {
	if v != nil {
		return v, nil
	}
	rb := bk.Bucket(k)
	if rb == nil {
		return nil, ErrNotFound
	}
	c := rb.Cursor()
	rk, rv := c.First()
	if !bytes.Equal(rk, keyRecord) || rv == nil {
		return nil, fmt.Errorf("%w: the record's bucket holds no record", ErrCorrupt)
	}
	if k, _ := c.Next(); k != nil {
		return nil, fmt.Errorf("%w: the record's bucket holds more than the record", ErrCorrupt)
	}
	return rv, nil
}
