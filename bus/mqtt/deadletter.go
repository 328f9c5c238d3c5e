package mqtt

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/outbox"
)

// Dead letters: a message whose sending ended the MQTT session
// DeadLetterAfter times (the broker closes the connection on a message it
// refuses: too large, a topic its ACL denies) is parked so that the queue
// behind it moves on. Parked QoS 1 messages stay in the outbox's dead-letter
// store across restarts; without an outbox they are kept in memory, at most
// maxMemDead of them.

// DeadLetter is a parked message, as `iotd outbox list` shows it.
type DeadLetter struct {
	// ID names it for Retry and Drop: the outbox sequence number, or "m"
	// and a number for one kept in memory.
	ID       string    `json:"id"`
	Topic    string    `json:"topic"`
	QoS      byte      `json:"qos"`
	Size     int       `json:"size"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	Parked   time.Time `json:"parked"`
	Accepted time.Time `json:"accepted,omitzero"`
	// Durable is true when it is kept in the outbox file.
	Durable bool   `json:"durable"`
	Payload []byte `json:"payload,omitempty"`
}

// maxMemDead bounds the dead letters kept in memory.
const maxMemDead = 100

// ErrNoDeadLetter means no parked message has the given id.
var ErrNoDeadLetter = errors.New("uplink: no such dead letter")

// park moves m to the dead letters and tells its publisher why.
func (u *Uplink) park(m *outMsg, why string) {
	reason := fmt.Sprintf("%s; parked as a dead letter after %d attempt(s) so that the messages behind it are sent (see `iotd outbox list`)", why, m.attempts)
	u.mu.Lock()
	u.forget(m)
	if m.disk && m.seq == 0 {
		m.gone = true // still being written: kept in memory, removed from the outbox once written
	}
	if !m.disk || m.seq == 0 {
		u.memDeadSeq++
		u.memDead = append(u.memDead, DeadLetter{
			ID: "m" + strconv.FormatUint(u.memDeadSeq, 10), Topic: m.topic, QoS: m.qos, Size: m.size,
			Attempts: m.attempts, Reason: reason, Parked: time.Now(), Payload: m.payload,
		})
		if len(u.memDead) > maxMemDead {
			u.memDead = slices.Delete(u.memDead, 0, len(u.memDead)-maxMemDead)
		}
	}
	u.parked++
	u.mu.Unlock()
	if m.disk && m.seq != 0 {
		if _, err := u.cfg.Outbox.Park(m.seq, reason); err != nil {
			u.log.Error("uplink: outbox: a dead letter could not be parked; it stays pending", "seq", m.seq, "err", err)
		}
	}
	m.payload = nil
	u.log.Error("uplink: message parked as a dead letter", "topic", m.topic, "size", m.size, "attempts", m.attempts, "reason", why)
	u.answer(m, bus.Refused, errors.New("uplink: "+reason))
}

// DeadLetters lists the parked messages, oldest first: the outbox's, then
// those kept in memory.
func (u *Uplink) DeadLetters() ([]DeadLetter, error) {
	var out []DeadLetter
	if u.cfg.Outbox != nil {
		recs, err := u.cfg.Outbox.Dead()
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			out = append(out, DeadLetter{
				ID: strconv.FormatUint(r.Seq, 10), Topic: r.Topic, QoS: r.QoS, Size: r.Size, Attempts: r.Attempts,
				Reason: r.Reason, Parked: r.Parked, Accepted: r.Accepted, Durable: true, Payload: r.Payload,
			})
		}
	}
	u.mu.Lock()
	out = append(out, u.memDead...)
	u.mu.Unlock()
	return out, nil
}

// RetryDeadLetter queues a parked message again, at the tail of the queue,
// with its attempts reset.
func (u *Uplink) RetryDeadLetter(id string) error {
	if seq, ok := durableID(id); ok {
		if u.cfg.Outbox == nil {
			return fmt.Errorf("%w: %s", ErrNoDeadLetter, id)
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		meta, err := u.cfg.Outbox.Retry(seq)
		if errors.Is(err, outbox.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNoDeadLetter, id)
		}
		if err != nil {
			return err
		}
		m := &outMsg{topic: meta.Topic, qos: meta.QoS, size: meta.Size, disk: true, seq: meta.Seq, state: queued}
		u.disk.add(m, +1)
		u.push(m)
		u.signal()
		return nil
	}
	u.mu.Lock()
	i := slices.IndexFunc(u.memDead, func(d DeadLetter) bool { return d.ID == id })
	if i < 0 {
		u.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoDeadLetter, id)
	}
	d := u.memDead[i]
	m := &outMsg{topic: d.Topic, qos: d.QoS, size: d.Size, payload: d.Payload, state: queued}
	dropped, err := u.reserve(m)
	if err == nil {
		u.memDead = slices.Delete(u.memDead, i, i+1)
		u.push(m)
	}
	u.mu.Unlock()
	u.answerDropped(dropped)
	u.signal()
	return err
}

// DropDeadLetter deletes a parked message for good.
func (u *Uplink) DropDeadLetter(id string) error {
	if seq, ok := durableID(id); ok {
		if u.cfg.Outbox == nil {
			return fmt.Errorf("%w: %s", ErrNoDeadLetter, id)
		}
		err := u.cfg.Outbox.Drop(seq)
		if errors.Is(err, outbox.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNoDeadLetter, id)
		}
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	i := slices.IndexFunc(u.memDead, func(d DeadLetter) bool { return d.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrNoDeadLetter, id)
	}
	u.memDead = slices.Delete(u.memDead, i, i+1)
	return nil
}

// durableID parses an outbox dead letter's id.
func durableID(id string) (uint64, bool) {
	if strings.HasPrefix(id, "m") {
		return 0, false
	}
	seq, err := strconv.ParseUint(id, 10, 64)
	return seq, err == nil
}
