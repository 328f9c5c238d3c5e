package bus

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/core/linkstate"
)

// LinkState is the payload of [TopicLinkState]: the state a core.Link (or
// an uplink that is its own link, like a Tencent module) reports.
//
// Deprecated: it is an alias kept for code written before the type moved;
// name [linkstate.State] instead.
type LinkState = linkstate.State

// PublishLinkState publishes s on [TopicLinkState]. Its signature is that of
// core.LinkOptions.OnState, so b.PublishLinkState is the adapter that puts a
// Link's states on the bus. It does not block on subscribers; a state that
// cannot be published (the bus is closed) is logged at debug level and
// dropped, as nobody is left to read it.
func (b *Bus) PublishLinkState(s linkstate.State) {
	m, err := NewEvent(s)
	if err == nil {
		err = b.Publish(TopicLinkState, m)
	}
	if err != nil {
		b.log.Debug("bus: link state not published", "state", s.State, "err", err)
	}
}

// DecodeLinkState decodes an event from [TopicLinkState]. It refuses a
// payload that is not JSON or names no status; an unknown status is passed
// on, so that a newer producer does not silence an older subscriber.
func DecodeLinkState(m *message.Message) (linkstate.State, error) {
	var s linkstate.State
	if err := DecodeEvent(m, &s); err != nil {
		return linkstate.State{}, err
	}
	if s.State == "" {
		return linkstate.State{}, fmt.Errorf("bus: decode %s event: no state", TopicLinkState)
	}
	return s, nil
}
