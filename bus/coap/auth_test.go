package coap

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAuthPayload: the C SDK's 16 bytes, with 0x00 where the SDK leaves a
// byte uninitialised (sdk_src/protocol/coap/coap_client_auth.c).
func TestAuthPayload(t *testing.T) {
	assert.Equal(t, []byte("21010406;Ab3xZ\x00\x00"), AuthPayload("Ab3xZ"))
	for range 100 {
		p := AuthPayload(newConnID())
		assert.Len(t, p, AuthPayloadLen)
		assert.Regexp(t, `^21010406;[A-Za-z0-9]{5}\x00\x00$`, string(p))
	}
	assert.Equal(t, []byte("21010406;Ab3xZ9\x00"), AuthPayload("Ab3xZ9X"), "cut as snprintf cuts")
}
