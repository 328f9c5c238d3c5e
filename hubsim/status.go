package hubsim

import (
	"encoding/base64"
	"slices"
	"sync"
	"time"
	"unicode/utf8"
)

// Message ring sizes.
const (
	messagesPerDevice = 256
	recentRefusals    = 64
)

// Directions of a recorded message.
const (
	// Up is a message a device published.
	Up = "up"
	// Down is a message the hub published to a device.
	Down = "down"
)

// Record is one message seen by the hub, as stored in a device's message
// log and returned by the admin API.
type Record struct {
	Time      time.Time `json:"time"`
	Direction string    `json:"direction"`
	Topic     string    `json:"topic"`
	QoS       byte      `json:"qos"`
	// Payload is the payload as text, or base64 when Binary is set.
	Payload string `json:"payload"`
	Binary  bool   `json:"binary,omitempty"`
	// Denied is set for a publish the hub refused; Reason says why. An MQTT
	// publish refused for its size is kept without its payload.
	Denied bool   `json:"denied,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// PayloadBytes returns the payload as bytes.
func (r Record) PayloadBytes() []byte {
	if r.Binary {
		b, _ := base64.StdEncoding.DecodeString(r.Payload)
		return b
	}
	return []byte(r.Payload)
}

func newRecord(t time.Time, dir, topic string, qos byte, payload []byte) Record {
	r := Record{Time: t.UTC(), Direction: dir, Topic: topic, QoS: qos}
	if utf8.Valid(payload) {
		r.Payload = string(payload)
	} else {
		r.Payload, r.Binary = base64.StdEncoding.EncodeToString(payload), true
	}
	return r
}

// Refusal is why a CONNECT was refused.
type Refusal struct {
	Time     time.Time `json:"time"`
	ClientID string    `json:"clientId"`
	Remote   string    `json:"remote"`
	// Code is the MQTT 3.1.1 CONNACK return code (1 to 5), or 0 when the
	// connection was closed without a CONNACK (a malformed CONNECT).
	Code   byte   `json:"code"`
	Reason string `json:"reason"`
}

// Status is a device's run-time state, kept in memory only.
type Status struct {
	Connected   bool      `json:"connected"`
	Remote      string    `json:"remote,omitempty"`
	Listener    string    `json:"listener,omitempty"`
	LastConnect time.Time `json:"lastConnect,omitzero"`
	LastRefusal *Refusal  `json:"lastRefusal,omitempty"`
	// Published and Received count messages from and to the device.
	Published int64 `json:"published"`
	Received  int64 `json:"received"`
	// DeniedPublishes counts publishes refused for their topic (the ACL)
	// or QoS 2, OversizePublishes those over the payload limit and
	// RateLimitedPublishes those over the publish rate. Each such MQTT
	// publish closed the connection; LastPublishRefusal is the latest.
	DeniedPublishes      int64           `json:"deniedPublishes"`
	OversizePublishes    int64           `json:"oversizePublishes"`
	RateLimitedPublishes int64           `json:"rateLimitedPublishes"`
	LastPublishRefusal   *PublishRefusal `json:"lastPublishRefusal,omitempty"`
	DeniedSubscribes     int64           `json:"deniedSubscribes"`
	// Subscriptions are the filters the device holds now.
	Subscriptions []string `json:"subscriptions"`
}

type deviceState struct {
	status Status
	subs   map[string]byte
	ring   []Record
	size   int // the ring's length once full; negative: keep none
	next   int
	full   bool
}

// tracker keeps run-time state per device (by client id) and recent
// refusals, including those of unknown client ids.
type tracker struct {
	mu       sync.Mutex
	devices  map[string]*deviceState
	refusals []Refusal
	// ringSize is the message log's length per device (0: messagesPerDevice,
	// negative: none kept).
	ringSize int
}

func newTracker() *tracker { return &tracker{devices: map[string]*deviceState{}} }

func (t *tracker) get(clientID string) *deviceState {
	st, ok := t.devices[clientID]
	if !ok {
		// The ring grows as messages arrive, up to its size: a fleet of
		// thousands of devices that published little costs little.
		st = &deviceState{subs: map[string]byte{}, size: t.ringSize}
		if st.size == 0 {
			st.size = messagesPerDevice
		}
		t.devices[clientID] = st
	}
	return st
}

func (t *tracker) update(clientID string, f func(*deviceState)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(t.get(clientID))
}

func (t *tracker) refuse(r Refusal, known bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if known {
		rr := r
		t.get(r.ClientID).status.LastRefusal = &rr
	}
	t.refusals = append(t.refusals, r)
	if len(t.refusals) > recentRefusals {
		t.refusals = t.refusals[len(t.refusals)-recentRefusals:]
	}
}

func (st *deviceState) push(r Record) {
	if st.size < 0 {
		return
	}
	if !st.full && len(st.ring) < st.size {
		st.ring = append(st.ring, r)
		st.next = len(st.ring) % st.size
		st.full = st.next == 0
		return
	}
	st.ring[st.next] = r
	st.next = (st.next + 1) % len(st.ring)
	if st.next == 0 {
		st.full = true
	}
}

// refusePublish records a publish that closed the connection.
func (t *tracker) refusePublish(clientID string, ref PublishRefusal, r Record) {
	t.update(clientID, func(st *deviceState) {
		st.push(r)
		switch ref.Code {
		case PublishTooLong:
			st.status.OversizePublishes++
		case PublishRateLimited:
			st.status.RateLimitedPublishes++
		default:
			st.status.DeniedPublishes++
		}
		st.status.LastPublishRefusal = &ref
	})
}

func (t *tracker) record(clientID string, r Record) {
	t.update(clientID, func(st *deviceState) {
		st.push(r)
		switch {
		case r.Denied:
			st.status.DeniedPublishes++
		case r.Direction == Up:
			st.status.Published++
		default:
			st.status.Received++
		}
	})
}

func (t *tracker) messages(clientID string) []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.devices[clientID]
	if !ok {
		return []Record{}
	}
	var out []Record
	if st.full {
		out = append(out, st.ring[st.next:]...)
	}
	out = append(out, st.ring[:st.next]...)
	return out
}

func (t *tracker) status(clientID string) Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.devices[clientID]
	if !ok {
		return Status{Subscriptions: []string{}}
	}
	s := st.status
	if s.LastRefusal != nil {
		r := *s.LastRefusal
		s.LastRefusal = &r
	}
	if s.LastPublishRefusal != nil {
		r := *s.LastPublishRefusal
		s.LastPublishRefusal = &r
	}
	s.Subscriptions = make([]string, 0, len(st.subs))
	for f := range st.subs {
		s.Subscriptions = append(s.Subscriptions, f)
	}
	slices.Sort(s.Subscriptions)
	return s
}

func (t *tracker) recentRefusals() []Refusal {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Refusal{}, t.refusals...)
}
