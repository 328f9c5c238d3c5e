package coap

import (
	"errors"
	"fmt"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
)

// The hub's custom options (PROTOCOL.md §4).
const (
	// OptAuthToken carries the token from the auth exchange.
	OptAuthToken message.OptionID = 61
	// OptNeedResponse is "1" when the device wants the hub's answer as the
	// response payload, "0" otherwise.
	OptNeedResponse message.OptionID = 62
)

// Request is one outgoing CoAP request as the hub expects it.
type Request struct {
	Type      message.Type // Confirmable unless set otherwise
	Code      codes.Code   // POST unless set
	MessageID uint16
	Token     []byte
	// Path is sent whole, slashes included, in one Uri-Path option.
	Path string
	// AuthToken, when not empty, is sent in option 61.
	AuthToken string
	// NeedResponse sets option 62 to "1" (else "0"); omitted when NoFlag.
	NeedResponse bool
	NoFlag       bool
	Payload      []byte
}

// Encode returns the wire form of r.
func (r Request) Encode() ([]byte, error) {
	typ, code := r.Type, r.Code
	if code == 0 {
		code = codes.POST
	}
	opts := make(message.Options, 0, 3)
	if r.Path != "" {
		opts = append(opts, message.Option{ID: message.URIPath, Value: []byte(r.Path)})
	}
	if r.AuthToken != "" {
		opts = append(opts, message.Option{ID: OptAuthToken, Value: []byte(r.AuthToken)})
	}
	if !r.NoFlag {
		flag := []byte("0")
		if r.NeedResponse {
			flag = []byte("1")
		}
		opts = append(opts, message.Option{ID: OptNeedResponse, Value: flag})
	}
	return encode(message.Message{Type: typ, Code: code, MessageID: int32(r.MessageID),
		Token: r.Token, Options: opts, Payload: r.Payload})
}

func encode(m message.Message) ([]byte, error) {
	size, err := coder.DefaultCoder.Size(m)
	if err != nil {
		return nil, fmt.Errorf("coap: encode: %w", err)
	}
	buf := make([]byte, size)
	if _, err := coder.DefaultCoder.Encode(m, buf); err != nil {
		return nil, fmt.Errorf("coap: encode: %w", err)
	}
	return buf, nil
}

// emptyACK returns the empty ACK (0.00) for message id mid.
func emptyACK(mid uint16) []byte {
	b, _ := encode(message.Message{Type: message.Acknowledgement, Code: codes.Empty, MessageID: int32(mid)})
	return b
}

// resetFor returns the reset (RST, 0.00) for message id mid.
func resetFor(mid uint16) []byte {
	b, _ := encode(message.Message{Type: message.Reset, Code: codes.Empty, MessageID: int32(mid)})
	return b
}

// Response is one decoded datagram from the hub.
type Response struct {
	Type      message.Type
	Code      codes.Code
	MessageID uint16
	Token     []byte
	Payload   []byte
}

// ErrMalformed is wrapped by ParseResponse errors.
var ErrMalformed = errors.New("coap: malformed message")

// maxOptions bounds the options ParseResponse accepts in one message.
const maxOptions = 32

// ParseResponse decodes one datagram received from the hub. It accepts
// ACKs, resets and responses (codes 2.xx to 5.xx, or 0.00 for an empty
// message); a request, an empty message that is not an ACK or reset, or
// anything that is not well-formed CoAP is an error wrapping ErrMalformed.
// Token and Payload alias data.
func ParseResponse(data []byte) (Response, error) {
	m := message.Message{Options: make(message.Options, 0, maxOptions)}
	if _, err := coder.DefaultCoder.Decode(data, &m); err != nil {
		return Response{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	r := Response{Type: m.Type, Code: m.Code, MessageID: uint16(m.MessageID), Token: m.Token, Payload: m.Payload}
	class := byte(m.Code) >> 5
	switch {
	case m.Code == codes.Empty:
		// RFC 7252 §4.1: an empty message has no token, options or payload.
		if m.Type != message.Acknowledgement && m.Type != message.Reset {
			return Response{}, fmt.Errorf("%w: empty %s (a ping or a bare CON/NON)", ErrMalformed, m.Type)
		}
		if len(m.Token) != 0 || len(m.Options) != 0 || len(m.Payload) != 0 {
			return Response{}, fmt.Errorf("%w: empty message with token, options or payload", ErrMalformed)
		}
	case class == 0:
		return Response{}, fmt.Errorf("%w: a request (%s), not a response", ErrMalformed, m.Code)
	case class < 2 || class > 5:
		return Response{}, fmt.Errorf("%w: code %d.%02d is reserved", ErrMalformed, class, byte(m.Code)&0x1f)
	case m.Type == message.Reset:
		return Response{}, fmt.Errorf("%w: a reset must be empty", ErrMalformed)
	}
	return r, nil
}

// CodeString formats c as "2.05".
func CodeString(c codes.Code) string {
	return fmt.Sprintf("%d.%02d", byte(c)>>5, byte(c)&0x1f)
}
