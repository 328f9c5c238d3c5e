package mqtt

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/iotd/iotd/bus"
)

// The queue holds every accepted message until the broker confirms it: in
// memory (QoS 0, and QoS 1 without an outbox) or in the outbox (QoS 1 with
// one, the payload on disk and only its description in memory). Messages
// leave it in the order they were accepted; after a session ends, those it
// did not confirm go back to their places, oldest first.
//
// Every message is numbered (outMsg.order) as it joins the queue, and the
// queue is kept sorted by that number: requeue merges instead of prepending.
// A session ending gives back its unconfirmed messages, and a sender caught
// inside paho's Publish by the end of the connection gives back the one it
// was handing over, at moments that are not ordered with each other; merged
// by number, the queue comes out the same whichever goes first.

// msgState is where a message is between acceptance and confirmation.
type msgState uint8

const (
	accepting msgState = iota // being checked, not queued yet
	queued                    // waiting to be handed to paho
	flying                    // handed to paho, not confirmed yet
)

// outMsg is one accepted publish.
type outMsg struct {
	id      string                  // the request's UUID, which a withdrawal names
	reply   func(bus.Result, error) // answers the publisher; nil once answered
	wantAck bool                    // answer on acknowledgement, not on storage
	topic   string
	qos     byte
	payload []byte // nil while the message is only on disk
	size    int
	disk    bool   // kept in the outbox
	seq     uint64 // its outbox sequence, once written
	// order numbers the message as it joined the queue (see
	// Uplink.nextOrder); the queue is kept sorted by it.
	order uint64
	// attempts counts the sessions that ended while this message was the
	// oldest unconfirmed one.
	attempts int
	state    msgState
	cached   bool // a stored message whose payload is kept in memory too
	// gone marks a message bound for the outbox that ended (acknowledged,
	// withdrawn, dropped, parked) before its write finished: the writer
	// removes it from the outbox once the write has.
	gone bool
}

// usage counts messages and payload bytes against a pair of bounds.
type usage struct {
	msgs  int
	bytes int64
}

func (a *usage) add(m *outMsg, sign int) {
	a.msgs += sign
	a.bytes += int64(sign) * m.cost()
}

// cost is what a message counts against a byte bound: its payload and its
// topic, as the outbox counts them.
func (m *outMsg) cost() int64 { return int64(len(m.topic) + m.size) }

// fits reports whether one more message of size bytes stays within max.
func (a usage) fits(cost int64, maxMsgs int, maxBytes int64) bool {
	return a.msgs+1 <= maxMsgs && a.bytes+cost <= maxBytes
}

// account returns the usage m counts against and its bounds. u.mu is held.
func (u *Uplink) account(m *outMsg) (*usage, int, int64, string) {
	if m.disk {
		return &u.disk, u.diskMaxMsgs, u.diskMaxBytes, "outbox (outbox.max_messages, outbox.max_bytes)"
	}
	return &u.mem, u.cfg.QueueSize, u.cfg.QueueBytes, "memory queue (mqtt.queue_size, mqtt.queue_bytes)"
}

// reserve counts m against its bounds, making room by dropping the oldest
// queued messages of its kind when the overflow policy says so. It returns
// the messages it dropped, to be answered and forgotten by the caller
// (outside u.mu), or an error naming both bounds. u.mu is held.
func (u *Uplink) reserve(m *outMsg) (dropped []*outMsg, err error) {
	acc, maxMsgs, maxBytes, what := u.account(m)
	if m.cost() > maxBytes {
		return nil, fmt.Errorf("uplink: a %s message does not fit the %s of %s at all", sizeOf(m.cost()), what, sizeOf(maxBytes))
	}
	for !acc.fits(m.cost(), maxMsgs, maxBytes) {
		if u.cfg.Overflow != OverflowDropOldest {
			return nil, fmt.Errorf("uplink: %s full: %d of %d messages, %s of %s; the message was not accepted",
				what, acc.msgs, maxMsgs, sizeOf(acc.bytes), sizeOf(maxBytes))
		}
		i := slices.IndexFunc(u.queue, func(q *outMsg) bool { return q.disk == m.disk })
		if i < 0 {
			return dropped, fmt.Errorf("uplink: %s full and every message in it is on the wire: %d of %d messages, %s of %s",
				what, acc.msgs, maxMsgs, sizeOf(acc.bytes), sizeOf(maxBytes))
		}
		old := u.queue[i]
		u.queue = slices.Delete(u.queue, i, i+1)
		u.forget(old)
		dropped = append(dropped, old)
	}
	acc.add(m, +1)
	return dropped, nil
}

// forget releases what m counts against its bounds, its cached payload
// and its withdrawal entry. u.mu is held.
func (u *Uplink) forget(m *outMsg) {
	acc, _, _, _ := u.account(m)
	acc.add(m, -1)
	if m.disk && m.seq == 0 {
		m.gone = true // ended while being written: removed once written
	}
	u.release(m)
	if u.byID[m.id] == m {
		delete(u.byID, m.id)
	}
}

// answerDropped tells the publishers of messages the overflow policy
// dropped, and removes them from the outbox.
func (u *Uplink) answerDropped(ms []*outMsg) {
	for _, m := range ms {
		u.removeStored(m)
		u.answer(m, bus.NotSent, fmt.Errorf("uplink: dropped to make room for newer messages (overflow: %s)", OverflowDropOldest))
	}
	if len(ms) > 0 {
		u.log.Warn("uplink: queue full; oldest messages dropped", "count", len(ms), "overflow", OverflowDropOldest)
	}
}

// answer replies to m's publisher, once.
func (u *Uplink) answer(m *outMsg, res bus.Result, reason error) {
	u.counts.count(res)
	u.mu.Lock()
	reply := m.reply
	m.reply = nil
	if m.id != "" {
		u.remember(m.id, res)
	}
	u.mu.Unlock()
	if reply != nil {
		reply(res, reason)
	}
}

// remember keeps the outcome of a finished message for a withdrawal that
// crossed its reply. u.mu is held.
func (u *Uplink) remember(id string, res bus.Result) { u.recent.remember(id, res) }

// enqueue puts an accepted message at the tail of the queue, where a
// withdrawal can find it, and answers a publisher that waits only for
// storage: at once for a message held in memory, once it is written for one
// bound for the outbox (see written). A message bound for the outbox may be
// sent while it is being written; its PUBACK then simply ends it.
func (u *Uplink) enqueue(m *outMsg) {
	u.mu.Lock()
	m.state = queued
	u.byID[m.id] = m
	u.push(m)
	storedNow := !m.wantAck && !m.disk
	u.mu.Unlock()
	if storedNow {
		u.answer(m, bus.Stored, nil)
	}
	u.signal()
}

// keepOrDrop decides whether a stored message keeps its payload in memory
// until it is sent: while the copies kept use at most half of QueueBytes,
// a message that is sent soon (the usual case while connected) is not read
// back from disk. u.mu is held.
func (u *Uplink) keepOrDrop(m *outMsg) {
	if m.payload == nil || m.cached || m.seq == 0 {
		return // nothing to keep, kept already, or not on disk yet
	}
	if u.cached+int64(m.size) <= u.cfg.QueueBytes/2 {
		m.cached = true
		u.cached += int64(m.size)
		return
	}
	m.payload = nil // on disk; read back when it is sent
}

// roomFor waits until a stored message's payload, read back from disk to
// be sent, fits the memory kept for payloads (half of QueueBytes, shared
// with keepOrDrop; one message at a time always fits), and counts it there.
// It reports false when stop closed first.
func (u *Uplink) roomFor(m *outMsg, stop <-chan struct{}) bool {
	for {
		u.mu.Lock()
		if u.cached == 0 || u.cached+int64(m.size) <= u.cfg.QueueBytes/2 {
			m.cached = true
			u.cached += int64(m.size)
			u.mu.Unlock()
			return true
		}
		u.mu.Unlock()
		select {
		case <-u.room:
		case <-stop:
			return false
		}
	}
}

// release drops a stored message's payload and its share of the memory
// kept for payloads. u.mu is held.
func (u *Uplink) release(m *outMsg) {
	if m.cached {
		m.cached = false
		u.cached -= int64(m.size)
		select {
		case u.room <- struct{}{}:
		default:
		}
	}
	if m.disk {
		m.payload = nil
	}
}

// complete ends a message the broker confirmed. One acknowledged before
// its outbox write finished is removed from the outbox when it has.
func (u *Uplink) complete(m *outMsg) {
	u.mu.Lock()
	u.forget(m)
	seq := m.seq
	if m.disk && seq == 0 {
		m.gone = true
	}
	u.mu.Unlock()
	if m.disk && seq != 0 {
		// Remove never waits for the disk: the deletion is written with
		// the next commit. One lost in a crash means the message is sent
		// again after the restart: at least once, never lost.
		if err := u.cfg.Outbox.Remove(seq); err != nil {
			u.log.Error("uplink: outbox: a confirmed message not removed; it may be sent again after a restart", "seq", seq, "err", err)
		}
	}
	u.answer(m, bus.Acknowledged, nil)
}

// removeStored deletes m from the outbox at once (a withdrawal or a drop:
// it must not come back after a restart), or, when it is still being
// written, once it has.
func (u *Uplink) removeStored(m *outMsg) {
	if !m.disk {
		return
	}
	u.mu.Lock()
	if m.seq == 0 {
		m.gone = true
		u.mu.Unlock()
		return
	}
	u.mu.Unlock()
	if err := u.cfg.Outbox.Remove(m.seq); err != nil {
		u.log.Error("uplink: outbox: a withdrawn message could not be removed; it may be sent after a restart", "seq", m.seq, "err", err)
	}
}

// signal wakes the sender: the queue may have grown.
func (u *Uplink) signal() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest queued message, waiting for one until stop closes.
func (u *Uplink) pop(stop <-chan struct{}) *outMsg {
	for {
		u.mu.Lock()
		if len(u.queue) > 0 {
			m := u.queue[0]
			u.queue[0] = nil
			u.queue = u.queue[1:]
			m.state = flying
			u.mu.Unlock()
			return m
		}
		u.mu.Unlock()
		select {
		case <-u.wake:
		case <-stop:
			return nil
		}
	}
}

// push puts m at the tail of the queue, numbered after everything queued
// before it. u.mu is held.
func (u *Uplink) push(m *outMsg) {
	u.nextOrder++
	m.order = u.nextOrder
	u.queue = append(u.queue, m)
}

// requeue puts ms, taken from the queue earlier, back at their places: by
// their numbers, ahead of everything queued after them and behind anything
// older that another requeue put back first. They were accepted already, so
// they keep their place within the bounds too.
func (u *Uplink) requeue(ms []*outMsg) {
	if len(ms) == 0 {
		return
	}
	back := slices.Clone(ms)
	slices.SortFunc(back, func(a, b *outMsg) int { return cmp.Compare(a.order, b.order) })
	u.mu.Lock()
	for _, m := range back {
		m.state = queued
		if m.disk && m.seq != 0 && !m.cached {
			m.payload = nil
		}
	}
	merged := make([]*outMsg, 0, len(back)+len(u.queue))
	q := u.queue
	for len(back) > 0 && len(q) > 0 {
		if back[0].order < q[0].order {
			merged, back = append(merged, back[0]), back[1:]
		} else {
			merged, q = append(merged, q[0]), q[1:]
		}
	}
	merged = append(append(merged, back...), q...)
	u.queue = merged
	u.mu.Unlock()
	u.signal()
}

// sizeOf formats a byte count for people.
func sizeOf(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
