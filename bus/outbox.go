package bus

import (
	"context"
	"errors"

	"github.com/iotd/iotd/bus/outbox"
)

// OutboxKeeper is a Remote that can also keep the uplink's durable outbox
// (natsbus.PubSub: a JetStream stream next to the bus's).
type OutboxKeeper interface {
	// OpenOutbox opens the outbox in stream ("" for the backend's
	// default) with opts's bounds.
	OpenOutbox(ctx context.Context, stream string, opts outbox.Options) (outbox.Store, error)
}

// OpenOutbox opens the uplink's durable outbox in the bus's backend
// (outbox.backend: jetstream). The outbox shares the backend's connection:
// close it before the bus.
func (b *Bus) OpenOutbox(ctx context.Context, stream string, opts outbox.Options) (outbox.Store, error) {
	k, ok := b.remote.(OutboxKeeper)
	if !ok {
		return nil, errors.New("outbox.backend jetstream: the outbox is kept on the bus's NATS server: set bus.backend: nats (iotd built with -tags iotd_nats)")
	}
	return k.OpenOutbox(ctx, stream, opts)
}
