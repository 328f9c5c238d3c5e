package outbox

import (
	bolt "go.etcd.io/bbolt"
)

// convertBatchBytes bounds the records one conversion transaction moves.
const convertBatchBytes = maxBatchBytes

// convertPlain moves the large records stored as plain values under seqs
// in the bucket named name (as version 1 stored every record) into buckets
// of their own (see layout.go), in Seq order, in transactions of about
// convertBatchBytes each rather than one: bbolt holds a transaction's new
// pages in memory, and a queue can be far larger than the memory. Each
// record is moved whole within one transaction and the readers take both
// forms, so a crash or a failed commit leaves every record readable; what
// is left is converted at the next Open. A failure is logged, not
// returned: the outbox works on such records too, they only cost more to
// append beside and to delete.
func (o *Outbox) convertPlain(name []byte, seqs []uint64) {
	converted := 0
	for len(seqs) > 0 {
		n := 0
		err := o.update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(name)
			var size int
			for n < len(seqs) && (n == 0 || size < convertBatchBytes) {
				k := seqKey(seqs[n])
				n++
				v := bk.Get(k)
				if v == nil {
					continue // gone since the scan (an evicted dead letter)
				}
				size += len(v)
				// v stays valid for the transaction: bbolt copies what
				// its nodes point at before it remaps the file.
				if err := bk.Delete(k); err != nil {
					return err
				}
				rb, err := bk.CreateBucket(k)
				if err != nil {
					return err
				}
				if err := rb.Put(keyRecord, v); err != nil {
					return err
				}
			}
			o.touched.Add(int64(size))
			return nil
		})
		if err != nil {
			o.log.Warn("outbox: cannot convert records to format version 2; they stay readable and are converted at the next open",
				"path", o.path, "bucket", string(name), "left", len(seqs), "err", err)
			break
		}
		converted += n
		seqs = seqs[n:]
		o.release()
	}
	if converted > 0 {
		o.log.Info("outbox: records converted to format version 2", "path", o.path, "bucket", string(name), "count", converted)
	}
}
