package bus

import (
	"fmt"
	"time"

	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Remote is a backend that carries a bus's messages outside the process:
// a watermill Publisher and Subscriber in one (its Close closes both).
// Package bus/natsbus's PubSub is one, over NATS JetStream.
//
// What the bus needs of it, beyond watermill's contract: a Subscribe
// returns once the subscription gets every message published afterwards;
// each subscription gets a topic's messages in the order they were
// published, the next one after the previous one was acked, and a Nack
// hands the same message again; Close closes the subscriptions' channels
// and returns once its goroutines ended.
type Remote interface {
	message.Publisher
	message.Subscriber
}

// NewRemote starts a bus whose messages travel through r: every Publish
// and Subscribe is r's, so that every bus on the same backend (in this
// process or another) shares the topics. The bus owns r: its Close closes
// r. cfg's Backend and NATS settings are not used.
//
// Differences from the in-process bus (the NATS backend's, see README's
// "The bus on NATS"): a publish waits for the backend to store the
// message instead of only queueing it; a slow subscriber's messages wait
// in the backend (bounded by its retention) instead of its queue;
// [Bus.Dropped] stays 0; a request on a topic that nobody serves waits
// until its context ends instead of failing at once ([ErrNotServing]).
func NewRemote(cfg Config, log *slog.Logger, r Remote) (*Bus, error) {
	return start(cfg, log, r)
}

// remotePublish publishes msgs through the remote backend.
func (b *Bus) remotePublish(topic string, msgs []*message.Message) error {
	b.subMu.RLock()
	closing := b.closing
	b.subMu.RUnlock()
	if closing {
		return errClosed
	}
	return b.remote.Publish(topic, msgs...)
}

// connectTimeout bounds the connection to a remote backend at New.
const connectTimeout = 15 * time.Second

// errBackend is the error for an unknown bus.backend.
func errBackend(name string) error {
	return fmt.Errorf("bus.backend %q: inprocess (the default) or nats", name)
}

// Validate checks the backend's settings.
func (c Config) Validate() error {
	switch c.Backend {
	case "", "inprocess":
		return nil
	case "nats":
		return c.NATS.Validate()
	}
	return errBackend(c.Backend)
}
