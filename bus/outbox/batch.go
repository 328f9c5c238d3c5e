package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Message is one message for [Outbox.AppendBatch].
type Message struct {
	Topic   string
	QoS     byte
	Payload []byte
}

// AppendBatch stores msgs at the tail of the pending queue, in order, in one
// commit, and returns their Metas in the same order. It is all or nothing:
// when it fails (ErrFull when the batch would pass a bound, ErrDisk, a bad
// message, or ctx before the commit began) none of msgs is stored. It is
// how a caller that must keep the order of messages arriving concurrently
// gets group commit: Appends from several goroutines share commits but are
// ordered by whoever reaches the writer first.
func (o *Outbox) AppendBatch(ctx context.Context, msgs []Message) ([]Meta, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	total, err := CheckBatch(msgs)
	if err != nil {
		return nil, err
	}
	metas := make([]Meta, len(msgs))
	p := &op{size: total, run: func(tx *bolt.Tx, b *batch) error {
		if b.messages+len(msgs) > o.opts.MaxMessages || b.bytes+total > o.opts.MaxBytes {
			return o.fullError(b.messages, b.bytes, total)
		}
		now := fromUnixNano(time.Now().UnixNano())
		encs := make([][]byte, len(msgs))
		for i, m := range msgs {
			metas[i] = Meta{Seq: b.nextSeq + uint64(i), Topic: m.Topic, QoS: m.QoS, Size: len(m.Payload), Accepted: now}
			enc, err := encodeRecord(Record{Meta: metas[i], Payload: m.Payload})
			if err != nil {
				return err // before any Put: nothing of the batch is written
			}
			encs[i] = enc
		}
		bk := tx.Bucket(bucketPending)
		for i := range msgs {
			if err := putRecord(bk, metas[i].Seq, encs[i]); err != nil {
				return abort(err)
			}
		}
		b.nextSeq += uint64(len(msgs))
		b.messages += len(msgs)
		b.bytes += total
		added := metas
		b.effects = append(b.effects, func() {
			for _, m := range added {
				o.pending.Push(m)
			}
		})
		return nil
	}}
	if err := o.submit(ctx, p); err != nil {
		return nil, fmt.Errorf("outbox: append %d messages: %w", len(msgs), err)
	}
	return metas, nil
}

// CheckBatch checks msgs as AppendBatch does before it stores anything
// (topic, QoS, payload size) and returns their size as the bounds count
// it: payload plus topic bytes. Other stores check with it too.
func CheckBatch(msgs []Message) (int64, error) {
	var total int64
	for _, m := range msgs {
		switch {
		case m.Topic == "":
			return 0, errors.New("outbox: append: empty topic")
		case len(m.Topic) > maxTopic:
			return 0, fmt.Errorf("outbox: append: topic of %d bytes, the limit is %d", len(m.Topic), maxTopic)
		case m.QoS > 2:
			return 0, fmt.Errorf("outbox: append: qos %d, want 0, 1 or 2", m.QoS)
		case len(m.Payload) > maxPayload:
			return 0, fmt.Errorf("outbox: append: payload of %d bytes, MQTT's limit is %d", len(m.Payload), maxPayload)
		}
		total += int64(len(m.Topic) + len(m.Payload))
	}
	return total, nil
}
