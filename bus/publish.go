package bus

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// CloudPublish sends payload to the cloud topic through the uplink and waits
// until it was sent (QoS 0) or acknowledged (QoS 1), or ctx ends.
func (b *Bus) CloudPublish(ctx context.Context, topic string, payload []byte, qos byte) error {
	m := message.NewMessage(watermill.NewUUID(), payload)
	m.Metadata.Set(MetaTopic, topic)
	m.Metadata.Set(MetaQoS, strconv.Itoa(int(qos)))
	_, err := b.Request(ctx, TopicUplinkPublish, m)
	if err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}
