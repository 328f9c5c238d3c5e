package bus

import (
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// PublishDownlink publishes a message received from the cloud on topic
// for the subscription filter, with the metadata [Downlink] promises.
// Uplinks use it.
func (b *Bus) PublishDownlink(filter, topic string, qos byte, payload []byte) error {
	m := message.NewMessage(watermill.NewUUID(), payload)
	m.Metadata.Set(MetaTopic, topic)
	m.Metadata.Set(MetaQoS, strconv.Itoa(int(qos)))
	m.Metadata.Set(MetaFilter, filter)
	return b.Publish(Downlink(filter), m)
}
