package natsbus

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iotd/iotd/bus/outbox"
)

// Dead letters of the JetStream outbox: a copy on the .dead subject (see
// Outbox).

// Park publishes a dead letter's copy of a pending message and then takes
// the message out of pending (its deletion follows, as Remove's).
func (o *Outbox) Park(seq uint64, reason string) (outbox.Record, error) {
	if err := o.enter(); err != nil {
		return outbox.Record{}, err
	}
	defer o.closeMu.RUnlock()
	fail := func(err error) (outbox.Record, error) {
		return outbox.Record{}, fmt.Errorf("outbox: park %d: %w", seq, err)
	}
	meta, ok := o.isPending(seq)
	if !ok {
		return fail(outbox.ErrNotFound)
	}
	m, err := o.get(seq, o.msgSub)
	if err != nil {
		return fail(err)
	}
	rec := outbox.Record{Meta: meta, Payload: m.Data, Reason: outbox.Cut(reason, outbox.MaxReason), Parked: time.Now()}
	ctx, cancel := o.ctx()
	defer cancel()
	ack, err := o.js.PublishMsg(ctx, &nats.Msg{Subject: o.deadSb, Header: recordHeaders(rec, true), Data: rec.Payload},
		jetstream.WithExpectStream(o.cfg.Stream))
	if err != nil {
		return fail(diskError(err))
	}
	o.mu.Lock()
	o.removeLocked(seq)
	o.dead = append(o.dead, deadLetter{rec: outbox.Record{Meta: rec.Meta, Reason: rec.Reason, Parked: rec.Parked}, at: ack.Sequence})
	slices.SortFunc(o.dead, func(a, b deadLetter) int { return cmp.Compare(a.rec.Seq, b.rec.Seq) })
	o.deadBytes += int64(len(rec.Topic) + rec.Size)
	var evicted []deadLetter
	for len(o.dead) > o.opts.MaxDeadLetters {
		d := o.dead[0]
		o.dead = o.dead[1:]
		o.deadBytes -= int64(len(d.rec.Topic) + d.rec.Size)
		evicted = append(evicted, d)
	}
	o.mu.Unlock()
	for _, d := range evicted {
		o.log.Warn("outbox: too many dead letters; the oldest is dropped", "seq", d.rec.Seq, "topic", d.rec.Topic, "reason", d.rec.Reason, "max_dead_letters", o.opts.MaxDeadLetters)
		o.deleteNow([]uint64{d.at})
	}
	o.kickDeleter()
	return rec, nil
}

// Dead returns the dead letters, oldest first, payloads read from the
// stream.
func (o *Outbox) Dead() ([]outbox.Record, error) {
	if err := o.enter(); err != nil {
		return nil, err
	}
	defer o.closeMu.RUnlock()
	o.mu.Lock()
	dead := slices.Clone(o.dead)
	o.mu.Unlock()
	out := make([]outbox.Record, 0, len(dead))
	for _, d := range dead {
		sub := o.deadSb
		if d.corrupt != nil && d.rec.Seq == d.at {
			sub = "" // either subject
		}
		ctx, cancel := o.ctx()
		m, err := o.st.GetMsg(ctx, d.at)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			continue // dropped meanwhile
		case err != nil:
			return nil, fmt.Errorf("outbox: dead letters: %w", diskError(err))
		case sub != "" && m.Subject != sub:
			continue
		}
		r := d.rec
		r.Payload = m.Data
		out = append(out, r)
	}
	return out, nil
}

func (o *Outbox) findDead(seq uint64) (deadLetter, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range o.dead {
		if d.rec.Seq == seq {
			return d, true
		}
	}
	return deadLetter{}, false
}

// forgetDead takes the dead letter at stream sequence at out of memory.
func (o *Outbox) forgetDead(at uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if i := slices.IndexFunc(o.dead, func(d deadLetter) bool { return d.at == at }); i >= 0 {
		o.deadBytes -= int64(len(o.dead[i].rec.Topic) + o.dead[i].rec.Size)
		o.dead = slices.Delete(o.dead, i, i+1)
	}
}

// Retry publishes a dead letter again as a new pending message, then
// deletes the dead letter.
func (o *Outbox) Retry(seq uint64) (outbox.Meta, error) {
	if err := o.enter(); err != nil {
		return outbox.Meta{}, err
	}
	defer o.closeMu.RUnlock()
	fail := func(err error) (outbox.Meta, error) {
		return outbox.Meta{}, fmt.Errorf("outbox: retry %d: %w", seq, err)
	}
	d, ok := o.findDead(seq)
	switch {
	case !ok:
		return fail(outbox.ErrNotFound)
	case d.corrupt != nil:
		return fail(fmt.Errorf("%w: %w (drop it)", outbox.ErrCorrupt, d.corrupt))
	}
	o.appendMu.Lock()
	defer o.appendMu.Unlock()
	if err := o.precheck(1, int64(len(d.rec.Topic)+d.rec.Size)); err != nil {
		return fail(err)
	}
	m, err := o.get(d.at, o.deadSb)
	if err != nil {
		return fail(err)
	}
	meta := outbox.Meta{Topic: d.rec.Topic, QoS: d.rec.QoS, Size: len(m.Data), Accepted: time.Now()}
	h := recordHeaders(outbox.Record{Meta: meta}, false)
	h.Set(hdrRetried, strconv.FormatUint(seq, 10))
	seqs, err := o.publish([]*nats.Msg{{Subject: o.msgSub, Header: h, Data: m.Data}})
	if err != nil {
		return fail(err)
	}
	meta.Seq = seqs[0]
	o.mu.Lock()
	o.pending.Push(meta)
	o.mu.Unlock()
	o.forgetDead(d.at)
	o.deleteNow([]uint64{d.at}) // if lost, Open sees Iotd-Retried
	return meta, nil
}

// Drop deletes a dead letter from the stream.
func (o *Outbox) Drop(seq uint64) error {
	if err := o.enter(); err != nil {
		return err
	}
	defer o.closeMu.RUnlock()
	d, ok := o.findDead(seq)
	if !ok {
		return fmt.Errorf("outbox: drop %d: %w", seq, outbox.ErrNotFound)
	}
	ctx, cancel := o.ctx()
	defer cancel()
	if err := o.st.DeleteMsg(ctx, d.at); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("outbox: drop %d: %w", seq, diskError(err))
	}
	o.forgetDead(d.at)
	return nil
}
