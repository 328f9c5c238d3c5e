package bus

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// subscribeTimeout bounds the wait for the uplink to acknowledge a
// subscription request.
const subscribeTimeout = 15 * time.Second

// CloudSubscribe subscribes to the cloud filter through the uplink and
// returns the channel of matching messages, which closes when ctx ends. The
// bus subscription is made before the cloud one, so nothing that arrives
// after the broker's acknowledgement is missed. Each message must be Acked.
func (b *Bus) CloudSubscribe(ctx context.Context, filter string, qos byte) (<-chan *message.Message, error) {
	// A failed request must not leave a bus subscription behind that nobody
	// reads; cancelling subCtx ends it.
	subCtx, subCancel := context.WithCancel(ctx)
	context.AfterFunc(ctx, subCancel)
	ch, err := b.ps.Subscribe(subCtx, Downlink(filter))
	if err != nil {
		subCancel()
		return nil, fmt.Errorf("bus: subscribe %s: %w", filter, err)
	}
	m := message.NewMessage(watermill.NewUUID(), nil)
	m.Metadata.Set(MetaFilter, filter)
	m.Metadata.Set(MetaQoS, strconv.Itoa(int(qos)))
	// The channel lives as long as ctx; the request only until the uplink
	// answers, which it does at once (it records a subscription made while
	// offline), so a bound here only matters when no uplink runs.
	rctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	if _, err := b.Request(rctx, TopicUplinkSubscribe, m); err != nil {
		subCancel()
		return nil, fmt.Errorf("subscribe %s: %w", filter, err)
	}
	return ch, nil
}

// CloudSubscribeWait is CloudSubscribe for a feature's own topics at start:
// while the uplink does not answer yet (or refuses), it logs at debug level
// and tries again every second. It fails only when ctx ends.
func (b *Bus) CloudSubscribeWait(ctx context.Context, filter string, qos byte) (<-chan *message.Message, error) {
	for {
		ch, err := b.CloudSubscribe(ctx, filter, qos)
		if err == nil {
			return ch, nil
		}
		b.log.Debug("bus: subscription pending", "filter", filter, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
