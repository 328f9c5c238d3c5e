package natsbus

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iotd/iotd/bus/outbox"
)

// Opening the JetStream outbox: its state rebuilt from the stream.

// scanned is one message of the stream read at open.
type scanned struct {
	at  uint64
	sub string
	h   nats.Header
	ts  time.Time
}

// load reads the headers of every message of the stream, rebuilds pending
// and the dead letters, and finishes what a crash interrupted.
func (o *Outbox) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, max(o.cfg.Timeout, 30*time.Second))
	defer cancel()
	msgs, err := o.scan(ctx)
	if err != nil {
		return fmt.Errorf("natsbus: outbox stream %s: read: %w", o.cfg.Stream, err)
	}
	type pend struct {
		meta    outbox.Meta
		retried uint64
	}
	var pends []pend
	var corrupt []deadLetter
	deadBySeq := map[uint64]deadLetter{}
	marks := map[uint64]uint64{} // Seq -> marker's stream sequence, newest
	attempts := map[uint64]int{}
	// A record that fails its checks is listed as a dead letter under its
	// stream sequence, to be dropped.
	damaged := func(m scanned, r outbox.Record, err error) {
		r.Seq, r.Reason, r.Parked = m.at, "corrupt record: "+err.Error(), m.ts
		corrupt = append(corrupt, deadLetter{rec: r, at: m.at, corrupt: err})
		o.log.Warn("outbox: a record fails its checks; it is listed as a dead letter", "stream", o.cfg.Stream, "subject", m.sub, "seq", m.at, "err", err)
	}
	for _, m := range msgs {
		switch m.sub {
		case o.msgSub:
			r, err := parseRecord(m.h, false)
			if err != nil {
				damaged(m, r, err)
				continue
			}
			r.Seq = m.at
			pends = append(pends, pend{meta: r.Meta, retried: parseRetried(m.h)})
		case o.deadSb:
			r, err := parseRecord(m.h, true)
			if err != nil {
				damaged(m, r, err)
				continue
			}
			if prev, ok := deadBySeq[r.Seq]; ok { // parked twice (a crash between the copy and the deletion, then again)
				o.drops = append(o.drops, prev.at)
			}
			deadBySeq[r.Seq] = deadLetter{rec: r, at: m.at}
		case o.attSub:
			seq, n, err := parseAttempts(m.h)
			if err != nil {
				o.drops = append(o.drops, m.at)
				continue
			}
			if prev, ok := marks[seq]; ok {
				o.drops = append(o.drops, prev)
			}
			marks[seq], attempts[seq] = m.at, n
		default:
			o.log.Warn("outbox: a message on a subject the outbox does not use; left alone", "stream", o.cfg.Stream, "subject", m.sub, "seq", m.at)
		}
	}
	for _, p := range pends {
		if _, parked := deadBySeq[p.meta.Seq]; parked {
			o.deletes = append(o.deletes, p.meta.Seq) // Park's deletion was lost
			continue
		}
		if d, ok := deadBySeq[p.retried]; ok && p.retried != 0 {
			o.drops = append(o.drops, d.at) // Retry's deletion was lost
			delete(deadBySeq, p.retried)
		}
		p.meta.Attempts = attempts[p.meta.Seq]
		if at, ok := marks[p.meta.Seq]; ok {
			o.marks[p.meta.Seq] = at
			delete(marks, p.meta.Seq)
		}
		o.pending.Push(p.meta)
	}
	for _, at := range marks {
		o.drops = append(o.drops, at)
	}
	for _, d := range deadBySeq {
		o.dead = append(o.dead, d)
	}
	o.dead = append(o.dead, corrupt...)
	slices.SortFunc(o.dead, func(a, b deadLetter) int { return cmp.Compare(a.rec.Seq, b.rec.Seq) })
	for _, d := range o.dead {
		o.deadBytes += int64(len(d.rec.Topic) + d.rec.Size)
	}
	if len(o.deletes)+len(o.drops) > 0 {
		o.flush(ctx)
	}
	return nil
}

// scan reads the headers of every message of the stream, in order.
func (o *Outbox) scan(ctx context.Context) ([]scanned, error) {
	info, err := o.st.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	cons, err := o.st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{HeadersOnly: true})
	if err != nil {
		return nil, err
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, err
	}
	defer it.Stop()
	var out []scanned
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil, err
		}
		md, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		out = append(out, scanned{at: md.Sequence.Stream, sub: m.Subject(), h: m.Headers(), ts: md.Timestamp})
		if md.NumPending == 0 {
			return out, nil
		}
	}
}
