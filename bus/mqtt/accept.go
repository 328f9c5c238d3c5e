package mqtt

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/outbox"
)

// Accepting a publish: checks that need no I/O happen at once on the bus
// loop (topic, QoS, size, bounds), so a refusal is immediate. With an outbox,
// every message then passes the writer (writer below), which stores QoS 1
// messages in batches — one commit, one fsync for all the publishes that
// arrived meanwhile — and queues all of them in arrival order.

// maxBatch bounds the messages stored in one outbox commit.
const maxBatch = 256

func (u *Uplink) handlePublish(req *message.Message) {
	if id := req.Metadata.Get(bus.MetaWithdraw); id != "" {
		u.handleWithdraw(req, id)
		return
	}
	topic := req.Metadata.Get(bus.MetaTopic)
	qos, err := parseQoS(req.Metadata.Get(bus.MetaQoS))
	if err == nil {
		err = validateTopic(topic)
	}
	if err == nil && len(req.Payload) > u.cfg.MaxPayload {
		err = fmt.Errorf("uplink: the payload is %d bytes; the limit is %d (mqtt.max_payload; the hub's documented maximum is %d, and it closes the connection on a larger message)",
			len(req.Payload), u.cfg.MaxPayload, DefaultMaxPayload)
	}
	if err != nil {
		_ = u.bus.PublishReply(req, bus.Refused, err)
		return
	}
	m := &outMsg{
		id: req.UUID, req: req, wantAck: req.Metadata.Get(bus.MetaWait) != "stored",
		topic: topic, qos: qos, payload: req.Payload, size: len(req.Payload),
		disk: qos == 1 && u.cfg.Outbox != nil, state: accepting,
	}
	u.mu.Lock()
	dropped, err := u.reserve(m)
	if err == nil {
		u.byID[m.id] = m
	}
	u.mu.Unlock()
	u.answerDropped(dropped)
	if err != nil {
		u.log.Debug("uplink: publish refused", "topic", topic, "err", err)
		_ = u.bus.PublishReply(req, bus.Refused, err)
		return
	}
	if u.cfg.Outbox == nil {
		u.enqueue([]*outMsg{m})
		return
	}
	u.toWrite <- m
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

// store writes the QoS 1 messages of batch to the outbox in one commit and
// queues the batch; when the write fails, those messages are refused with
// the reason and nothing stored before is touched.
func (u *Uplink) store(batch []*outMsg) {
	var recs []outbox.Message
	for _, m := range batch {
		if m.disk {
			recs = append(recs, outbox.Message{Topic: m.topic, QoS: m.qos, Payload: m.payload})
		}
	}
	if len(recs) > 0 {
		metas, err := u.cfg.Outbox.AppendBatch(context.Background(), recs)
		if err != nil {
			u.refuseStore(batch, err)
			return
		}
		i := 0
		for _, m := range batch {
			if m.disk {
				m.seq = metas[i].Seq
				if m.req != nil {
					m.req.Payload = nil // the request outlives the write only for its reply
				}
				i++
			}
		}
	}
	u.enqueue(batch)
}

func (u *Uplink) refuseStore(batch []*outMsg, err error) {
	reason := fmt.Errorf("uplink: not stored: %w", err)
	if errors.Is(err, outbox.ErrDisk) {
		reason = fmt.Errorf("uplink: not stored, the outbox could not be written (%w); messages stored earlier are kept", err)
	}
	u.log.Error("uplink: outbox write failed; publishes refused", "count", len(batch), "err", err)
	var keep []*outMsg
	for _, m := range batch {
		if !m.disk {
			keep = append(keep, m)
			continue
		}
		u.mu.Lock()
		u.forget(m)
		u.mu.Unlock()
		u.answer(m, bus.Refused, reason)
	}
	u.enqueue(keep)
}

// handleWithdraw takes a message out of the queue when its publisher gave up
// before it went out, and says what became of it.
func (u *Uplink) handleWithdraw(req *message.Message, id string) {
	u.mu.Lock()
	m := u.byID[id]
	if m == nil {
		res, ok := u.recent[id]
		u.mu.Unlock()
		if !ok {
			res = bus.NotSent // refused, or never seen: either way not sent
		}
		_ = u.bus.PublishReply(req, res, nil)
		return
	}
	var res bus.Result
	wasQueued := m.state == queued
	switch m.state {
	case accepting:
		m.withdrawn = true // the writer drops it after the write
		res = bus.NotSent
	case queued:
		if i := indexOf(u.queue, m); i >= 0 {
			u.queue = append(u.queue[:i], u.queue[i+1:]...)
		}
		u.forget(m)
		res = bus.NotSent
	default: // on the wire: it completes, and nobody waits for it
		res = bus.Stored
	}
	m.req = nil
	u.mu.Unlock()
	if wasQueued {
		u.removeStored(m)
	}
	_ = u.bus.PublishReply(req, res, nil)
}

func indexOf(q []*outMsg, m *outMsg) int {
	for i, x := range q {
		if x == m {
			return i
		}
	}
	return -1
}
