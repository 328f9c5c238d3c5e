package coap

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestMessageIDWrap: ids wrap from 65535 to 1, as the C SDK's
// (get_next_coap_msg_id); 0 is never used.
func TestMessageIDWrap(t *testing.T) {
	assert.Equal(t, uint16(1), nextMessageID(65535))
	assert.Equal(t, uint16(1), nextMessageID(0))
	assert.Equal(t, uint16(43), nextMessageID(42))
	for range 100 {
		e := newEngine(nil, fastConfig().withDefaults(), &counters{}, discardLog())
		assert.NotZero(t, e.nextMID)
	}
	assert.Len(t, newToken(), 4)
}
