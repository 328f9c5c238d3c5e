package bus

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// SchemaVersion is written into [MetaSchema] of every event built by
// [NewEvent]; consumers may refuse versions they do not know.
const SchemaVersion = "1"

// NewEvent returns a message whose payload is v encoded as JSON.
func NewEvent(v any) (*message.Message, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("bus: encode %T: %w", v, err)
	}
	m := message.NewMessage(watermill.NewUUID(), b)
	m.Metadata.Set(MetaContentType, "application/json")
	m.Metadata.Set(MetaSchema, SchemaVersion)
	return m, nil
}

// DecodeEvent decodes the JSON payload of m into v.
func DecodeEvent(m *message.Message, v any) error {
	if err := json.Unmarshal(m.Payload, v); err != nil {
		return fmt.Errorf("bus: decode %T: %w", v, err)
	}
	return nil
}

// ClockOffset is the payload of [TopicClockOffset].
type ClockOffset struct {
	// Offset is server time minus local time.
	Offset time.Duration `json:"offset_ns"`
	// RTT is the round trip of the sync request.
	RTT time.Duration `json:"rtt_ns"`
	// ServerTime is the server's time when the reply was received, estimated.
	ServerTime time.Time `json:"server_time"`
	// SyncedAt is the local time of the sync.
	SyncedAt time.Time `json:"synced_at"`
}
