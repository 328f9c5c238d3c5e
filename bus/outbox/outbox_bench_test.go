package outbox

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// appendCases are the Append benchmarks: policy × concurrency × payload.
var appendCases = []struct {
	sync    SyncPolicy
	conc    int
	payload int
}{
	{SyncAlways, 1, 256},
	{SyncAlways, 16, 256},
	{SyncInterval, 1, 256},
	{SyncInterval, 16, 256},
	{SyncNever, 1, 256},
	{SyncNever, 16, 256},
	{SyncAlways, 1, 64 << 10},
	{SyncAlways, 16, 64 << 10},
}

// BenchmarkAppend measures Append with each sync policy at concurrency 1
// and 16, reporting msgs/s. BenchmarkBoltPeer is the same work done with
// bbolt alone (DB.Update, and DB.Batch for group commit), measured in the
// same run for comparison.
func BenchmarkAppend(b *testing.B) {
	for _, c := range appendCases {
		b.Run(fmt.Sprintf("%s/c%d/%dB", c.sync, c.conc, c.payload), func(b *testing.B) {
			o, err := Open(tempPath(b), Options{Sync: c.sync, MaxMessages: 1 << 30, MaxBytes: 1 << 40})
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			payload := make([]byte, c.payload)
			b.SetBytes(int64(c.payload))
			commits := o.commits.Load()
			runConcurrently(b, c.conc, func() error {
				_, err := o.Append(context.Background(), "prod/dev/up", 1, payload)
				return err
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(b.N)/float64(o.commits.Load()-commits), "msgs/commit")
		})
	}
}

// BenchmarkBoltPeer stores the same records with bbolt directly: one
// DB.Update per message, or DB.Batch (bbolt's group commit, which waits up
// to MaxBatchDelay, 10ms, to gather a batch).
func BenchmarkBoltPeer(b *testing.B) {
	for _, mode := range []string{"update", "batch"} {
		for _, c := range appendCases {
			if c.sync != SyncAlways {
				continue
			}
			b.Run(fmt.Sprintf("%s/c%d/%dB", mode, c.conc, c.payload), func(b *testing.B) {
				db, err := bolt.Open(tempPath(b), 0o600, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				if err := db.Update(func(tx *bolt.Tx) error {
					_, err := tx.CreateBucket(bucketPending)
					return err
				}); err != nil {
					b.Fatal(err)
				}
				write := db.Update
				if mode == "batch" {
					write = db.Batch
				}
				payload := make([]byte, c.payload)
				b.SetBytes(int64(c.payload))
				var seq atomic.Uint64
				runConcurrently(b, c.conc, func() error {
					s := seq.Add(1)
					enc, err := encodeRecord(Record{Meta: Meta{Seq: s, Topic: "prod/dev/up", QoS: 1, Size: len(payload)}, Payload: payload})
					if err != nil {
						return err
					}
					return write(func(tx *bolt.Tx) error {
						return tx.Bucket(bucketPending).Put(seqKey(s), enc)
					})
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// runConcurrently calls f b.N times from conc goroutines.
func runConcurrently(b *testing.B, conc int, f func() error) {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	b.ResetTimer()
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := f(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}
