package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/outbox"
)

// Accepting a publish: checks that need no I/O happen at once (topic, QoS,
// size, bounds), so a refusal is immediate, and the message is queued. A
// QoS 1 message with an outbox is also handed to the writer (writer below),
// which stores them in batches — one commit, one fsync for all the
// publishes that arrived meanwhile — in the order they were queued, while
// the session already sends them. A publisher waiting for "stored" is
// answered once the write is done; one waiting for the acknowledgement on
// PUBACK, whichever comes first.
//
// Publishes arrive two ways: as requests on the bus topic (any publisher on
// the bus), or through Publish, which the bus calls directly when the uplink
// runs in the same process; both end in accept.

// maxBatch bounds the messages stored in one outbox commit, and the
// messages waiting for the writer. Their bytes are bounded too (see
// waitWriter): larger batches mean fewer commits and fsyncs.
const maxBatch = 2048

func (u *Uplink) handlePublish(req *message.Message) {
	if id := req.Metadata.Get(bus.MetaWithdraw); id != "" {
		res, _ := u.withdraw(id)
		_ = u.bus.PublishReply(req, res, nil)
		return
	}
	qos, err := parseQoS(req.Metadata.Get(bus.MetaQoS))
	if err != nil {
		u.counts.count(bus.Refused)
		_ = u.bus.PublishReply(req, bus.Refused, err)
		return
	}
	payload := req.Payload
	req.Payload = nil // the request outlives the message only for its reply
	reply := func(res bus.Result, reason error) {
		if err := u.bus.PublishReply(req, res, reason); err != nil {
			u.log.Debug("uplink: reply not sent", "err", err)
		}
	}
	if err := u.accept(req.UUID, req.Metadata.Get(bus.MetaTopic), qos, payload, req.Metadata.Get(bus.MetaWait) != "stored", reply); err != nil {
		reply(bus.Refused, err)
	}
}

// Publish is the direct path the bus takes to an uplink in the same
// process (see [bus.DirectPublisher]): the same acceptance, bounds and
// answers as a request on the bus topic, without the round trip through
// watermill. When ctx ends first the message is withdrawn if it has not gone
// out (NotSent and ctx's cause); one already on the wire is Stored.
func (u *Uplink) Publish(ctx context.Context, topic string, payload []byte, o bus.PublishOptions) (bus.Result, error) {
	type outcome struct {
		res    bus.Result
		reason error
	}
	done := make(chan outcome, 1)
	// Bus requests are named by UUIDs; direct calls by a counter (a short
	// UUID cost 14 % of the CPU of a publish), which cannot collide with one.
	id := "direct-" + strconv.FormatUint(u.directSeq.Add(1), 36)
	err := u.accept(id, topic, o.QoS, payload, !o.NoWait, func(res bus.Result, reason error) { done <- outcome{res, reason} })
	if err != nil {
		return bus.Refused, err
	}
	select {
	case r := <-done:
		return r.res, r.reason
	case <-ctx.Done():
	}
	if res, answered := u.withdraw(id); !answered {
		if res == bus.NotSent {
			return bus.NotSent, context.Cause(ctx)
		}
		return res, nil
	}
	r := <-done // answered just before the withdrawal
	return r.res, r.reason
}

// Submit queues a publish and answers it later with done (bus.Submitter):
// the local API's publish stream keeps many in flight, in order.
func (u *Uplink) Submit(id, topic string, payload []byte, o bus.PublishOptions, done func(bus.Result, error)) error {
	return u.accept(id, topic, o.QoS, payload, !o.NoWait, done)
}

// Withdraw takes back a submitted message that has not gone out
// (bus.Submitter).
func (u *Uplink) Withdraw(id string) (bus.Result, bool) { return u.withdraw(id) }

var _ bus.Submitter = (*Uplink)(nil)

// accept checks a publish, queues it and, bound for the outbox, hands it to
// the writer; reply is called once with the outcome. An error means it was
// refused and reply will not be called.
func (u *Uplink) accept(id, topic string, qos byte, payload []byte, wantAck bool, reply func(bus.Result, error)) (err error) {
	defer func() {
		if err != nil {
			u.counts.count(bus.Refused)
		}
	}()
	if err := validateTopic(topic); err != nil {
		return err
	}
	if qos > 1 {
		return fmt.Errorf("uplink: qos %d: QCLOUD_ERR_MQTT_QOS_NOT_SUPPORT (-120): the hub supports 0 and 1", qos)
	}
	if len(payload) > u.cfg.MaxPayload {
		return fmt.Errorf("uplink: the payload is %d bytes; the limit is %d (mqtt.max_payload; the hub's documented maximum is %d, and it closes the connection on a larger message)",
			len(payload), u.cfg.MaxPayload, DefaultMaxPayload)
	}
	m := &outMsg{
		id: id, reply: reply, wantAck: wantAck,
		topic: topic, qos: qos, payload: payload, size: len(payload),
		disk: qos == 1 && u.cfg.Outbox != nil, state: accepting,
	}
	u.acceptMu.RLock()
	defer u.acceptMu.RUnlock()
	if u.stopped {
		return bus.ErrNotServing
	}
	u.mu.Lock()
	dropped, err := u.reserve(m)
	u.mu.Unlock()
	u.answerDropped(dropped)
	if err != nil {
		u.log.Debug("uplink: publish refused", "topic", topic, "err", err)
		return err
	}
	if m.disk && !u.waitWriter(m.size) {
		u.mu.Lock()
		u.forget(m)
		u.mu.Unlock()
		return bus.ErrNotServing
	}
	// The queue and the outbox see messages in the same order: one accept
	// at a time queues its message and hands it to the writer.
	u.orderMu.Lock()
	defer u.orderMu.Unlock()
	u.enqueue(m)
	if m.disk {
		u.toWrite <- m
	}
	return nil
}

// waitWriter waits until size more payload bytes fit what may wait for the
// outbox writer (half of QueueBytes; one message always fits), and counts
// them. It reports false when the uplink stopped first.
func (u *Uplink) waitWriter(size int) bool {
	for {
		u.mu.Lock()
		if u.writing == 0 || u.writing+int64(size) <= u.cfg.QueueBytes/2 {
			u.writing += int64(size)
			u.mu.Unlock()
			return true
		}
		wrote := u.wrote
		u.mu.Unlock()
		select {
		case <-wrote:
		case <-u.quit:
			return false
		}
	}
}

// doneWriting releases the bytes of a written (or refused) batch and wakes
// the accepts waiting for room. u.mu is held.
func (u *Uplink) doneWriting(batch []*outMsg) {
	for _, m := range batch {
		u.writing -= int64(m.size)
	}
	close(u.wrote)
	u.wrote = make(chan struct{})
}

// stopAccepting makes accept refuse from now on and closes the writer's
// channel once no accept is sending to it.
func (u *Uplink) stopAccepting() {
	close(u.quit) // accepts waiting for the writer give up
	u.acceptMu.Lock()
	u.stopped = true
	close(u.toWrite)
	u.acceptMu.Unlock()
}

// writer stores accepted messages in the outbox in batches and queues them,
// until toWrite is closed.
func (u *Uplink) writer() {
	batch := make([]*outMsg, 0, maxBatch)
	for m := range u.toWrite {
		batch = append(batch[:0], m)
	more:
		for len(batch) < maxBatch {
			select {
			case m, ok := <-u.toWrite:
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		u.store(batch)
		clear(batch)
	}
}

// store writes the messages of batch, queued already, to the outbox in one
// commit: sending overlaps the write. Those that ended meanwhile (a PUBACK
// can beat the write) are not written at all.
func (u *Uplink) store(batch []*outMsg) {
	recs := make([]outbox.Message, 0, len(batch))
	keep := batch[:0:0]
	u.mu.Lock()
	defer func() {
		u.mu.Lock()
		u.doneWriting(batch)
		u.mu.Unlock()
	}()
	for _, m := range batch {
		if m.gone {
			continue
		}
		recs = append(recs, outbox.Message{Topic: m.topic, QoS: m.qos, Payload: m.payload})
		keep = append(keep, m)
	}
	u.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	metas, err := u.cfg.Outbox.AppendBatch(context.Background(), recs)
	if err != nil {
		u.unstored(keep, err)
		return
	}
	u.written(keep, metas)
}

// written records where the messages of a successful outbox write are:
// those that ended meanwhile are removed again, those still queued may drop
// their payload from memory, and publishers that wait for storage are
// answered.
func (u *Uplink) written(disk []*outMsg, metas []outbox.Meta) {
	var gone []uint64
	var stored []*outMsg
	u.mu.Lock()
	for i, m := range disk {
		m.seq = metas[i].Seq
		switch {
		case m.gone:
			gone = append(gone, m.seq)
		case m.state == queued:
			u.keepOrDrop(m)
		}
		if !m.gone && !m.wantAck && m.reply != nil {
			stored = append(stored, m)
		}
	}
	u.mu.Unlock()
	if len(gone) > 0 {
		if err := u.cfg.Outbox.Remove(gone...); err != nil {
			u.log.Error("uplink: outbox: messages that ended while being written not removed; they may be sent again after a restart", "count", len(gone), "err", err)
		}
	}
	for _, m := range stored {
		u.answer(m, bus.Stored, nil)
	}
}

// unstored handles a failed outbox write: nothing stored before is
// touched; messages of the batch not yet on the wire are taken out of the
// queue and refused with the reason; those already sent go on as messages
// held in memory, and their publishers hear about them as usual.
func (u *Uplink) unstored(disk []*outMsg, err error) {
	reason := fmt.Errorf("uplink: not stored: %w", err)
	if errors.Is(err, outbox.ErrDisk) {
		reason = fmt.Errorf("uplink: not stored, the outbox could not be written (%w); messages stored earlier are kept", err)
	}
	u.log.Error("uplink: outbox write failed; publishes refused", "count", len(disk), "err", err)
	var refused, sending []*outMsg
	u.mu.Lock()
	for _, m := range disk {
		switch {
		case m.gone:
		case m.state == queued:
			if i := indexOf(u.queue, m); i >= 0 {
				u.queue = append(u.queue[:i], u.queue[i+1:]...)
			}
			u.forget(m)
			refused = append(refused, m)
		default: // on the wire: it completes from memory
			u.disk.add(m, -1)
			m.disk = false
			u.mem.add(m, +1)
			if !m.wantAck {
				sending = append(sending, m)
			}
		}
	}
	u.mu.Unlock()
	for _, m := range refused {
		u.answer(m, bus.Refused, reason)
	}
	for _, m := range sending {
		u.answer(m, bus.Stored, nil)
	}
}

// withdraw takes message id out of the queue when its publisher gave up
// before it went out, and says what became of it: NotSent (taken out, or
// never queued), Stored (on the wire: it completes, and nobody waits for
// it), or a finished message's result. answered is true when the message
// had been answered already, so its publisher has (or gets) that answer.
func (u *Uplink) withdraw(id string) (res bus.Result, answered bool) {
	u.mu.Lock()
	m := u.byID[id]
	if m == nil {
		res, ok := u.recent.lookup(id)
		u.mu.Unlock()
		if !ok {
			return bus.NotSent, false // refused, or never seen: either way not sent
		}
		return res, true
	}
	if m.reply == nil {
		u.mu.Unlock()
		return bus.Stored, true
	}
	// Messages are found here only once queued (enqueue registers them).
	wasQueued := m.state == queued
	if wasQueued {
		if i := indexOf(u.queue, m); i >= 0 {
			u.queue = append(u.queue[:i], u.queue[i+1:]...)
		}
		u.forget(m)
		u.remember(id, bus.NotSent)
		u.counts.count(bus.NotSent)
		res = bus.NotSent
	} else { // on the wire: it completes, and nobody waits for it
		res = bus.Stored
	}
	m.reply = nil
	u.mu.Unlock()
	if wasQueued {
		u.removeStored(m) // once written, when it is still being written
	}
	return res, false
}

func indexOf(q []*outMsg, m *outMsg) int {
	for i, x := range q {
		if x == m {
			return i
		}
	}
	return -1
}
