package localapi

import "time"

// OutboxList is the answer of GET /v1/outbox.
type OutboxList struct {
	// Outbox is the outbox's use; nil when there is none.
	Outbox *Bound `json:"outbox,omitempty"`
	// Memory is the memory queue's use.
	Memory      Bound        `json:"memory"`
	DeadLetters []DeadLetter `json:"dead_letters"`
}

// DeadLetter is a parked message.
type DeadLetter struct {
	// ID names it for retry and drop: the outbox sequence number, or "m"
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
