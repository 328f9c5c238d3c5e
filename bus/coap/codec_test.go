package coap

import (
	"errors"
	"testing"

	gmsg "github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEncodeWire checks the bytes of a publish by hand against RFC 7252 §3:
// go-coap's codec must carry options 61 and 62 and one Uri-Path with
// slashes.
func TestEncodeWire(t *testing.T) {
	b, err := Request{MessageID: 0x1234, Token: []byte{1, 2, 3, 4}, Path: "P/D/data", AuthToken: "TK",
		NeedResponse: true, Payload: []byte("hi")}.Encode()
	require.NoError(t, err)
	want := []byte{
		0x44, 0x02, 0x12, 0x34, // ver 1, CON, TKL 4; POST; mid
		1, 2, 3, 4, // token
		0xb8, 'P', '/', 'D', '/', 'd', 'a', 't', 'a', // delta 11 (Uri-Path), len 8
		0xd2, 61 - 11 - 13, 'T', 'K', // delta 50 = 13 + 37, len 2
		0x11, '1', // delta 1 (62), len 1
		0xff, 'h', 'i',
	}
	assert.Equal(t, want, b)
}

func TestParseResponse(t *testing.T) {
	enc := func(m gmsg.Message) []byte {
		b, err := encode(m)
		require.NoError(t, err)
		return b
	}
	rows := []struct {
		name    string
		data    []byte
		want    Response
		wantErr string
	}{
		{"piggy-backed 2.05", enc(gmsg.Message{Type: gmsg.Acknowledgement, Code: codes.Content, MessageID: 7, Token: []byte{9}, Payload: []byte("tok")}),
			Response{Type: gmsg.Acknowledgement, Code: codes.Content, MessageID: 7, Token: []byte{9}, Payload: []byte("tok")}, ""},
		{"empty ACK", []byte{0x60, 0, 0, 5}, Response{Type: gmsg.Acknowledgement, MessageID: 5}, ""},
		{"reset", []byte{0x70, 0, 0, 5}, Response{Type: gmsg.Reset, MessageID: 5}, ""},
		{"separate NON 4.01", enc(gmsg.Message{Type: gmsg.NonConfirmable, Code: codes.Unauthorized, MessageID: 1, Token: []byte{1, 2}}),
			Response{Type: gmsg.NonConfirmable, Code: codes.Unauthorized, MessageID: 1, Token: []byte{1, 2}}, ""},
		{"short", []byte{0x60, 0}, Response{}, "coap: malformed message: "},
		{"version 2", []byte{0xa0, 0, 0, 5}, Response{}, "coap: malformed message: "},
		{"token length 9", []byte{0x69, 0x45, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9}, Response{}, "coap: malformed message: "},
		{"ping", []byte{0x40, 0, 0, 5}, Response{}, "coap: malformed message: empty Confirmable (a ping or a bare CON/NON)"},
		{"empty with token", []byte{0x61, 0, 0, 5, 1}, Response{}, "coap: malformed message: empty message with token, options or payload"},
		{"request", enc(gmsg.Message{Type: gmsg.Confirmable, Code: codes.GET, MessageID: 1}), Response{}, "coap: malformed message: a request (GET), not a response"},
		{"reserved class", []byte{0x60, 0xe0, 0, 1}, Response{}, "coap: malformed message: code 7.00 is reserved"},
		{"reset with code", []byte{0x70, 0x45, 0, 1}, Response{}, "coap: malformed message: a reset must be empty"},
		{"marker without payload", []byte{0x60, 0x45, 0, 1, 0xff}, Response{}, "coap: malformed message: "},
		{"truncated option", []byte{0x60, 0x45, 0, 1, 0xb5, 'a'}, Response{}, "coap: malformed message: "},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			got, err := ParseResponse(row.data)
			if row.wantErr != "" {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrMalformed))
				assert.Contains(t, err.Error(), row.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, row.want, got)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{ProductID: "P", DeviceName: "D"}
	rows := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"zero", func(*Config) {}, ""},
		{"no device", func(c *Config) { c.ProductID = "" }, "coap: device: product id and device name are required (programming error: set Config.ProductID and DeviceName)"},
		{"negative ack", func(c *Config) { c.AckTimeout = -1 }, "coap: ack_timeout: -1ns is negative; use e.g. 2s"},
		{"retransmit", func(c *Config) { c.MaxRetransmit = 21 }, "coap: max_retransmit: 21 is out of range; use 1 to 20 (default 4)"},
		{"payload", func(c *Config) { c.MaxPayload = 10 }, "coap: max_payload: 10 is too small; use at least 64 (default 1024)"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			c := ok
			row.mod(&c)
			err := c.Validate()
			if row.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, row.wantErr, err.Error())
		})
	}
	assert.Equal(t, "1m33s", MaxTransmitWait(DefaultAckTimeout, DefaultMaxRetransmit).String(), "RFC 7252 §4.8.2")
}

// FuzzParseResponse: ParseResponse never panics; what it accepts is a
// response, an ACK or a reset, and re-encodes to a message it accepts again.
func FuzzParseResponse(f *testing.F) {
	for _, seed := range [][]byte{
		{0x60, 0, 0, 5}, {0x70, 0, 0, 5}, {0x40, 0, 0, 5}, {0x61, 0x45, 0, 1, 9, 0xff, 'o', 'k'},
		{0x52, 0x45, 0x12, 0x34, 1, 2, 0xb8, 'P', '/', 'D', '/', 'd', 'a', 't', 'a'},
		{0x60, 0x45, 0, 1, 0xd2, 37, 'T', 'K', 0x11, '1', 0xff, 'x'}, {0x60, 0x45, 0, 1, 0xee}, {},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseResponse(data)
		if err != nil {
			assert.True(t, errors.Is(err, ErrMalformed))
			return
		}
		class := byte(r.Code) >> 5
		assert.True(t, r.Code == codes.Empty || (class >= 2 && class <= 5), "code %v", r.Code)
		assert.LessOrEqual(t, len(r.Token), 8)
		b, err := encode(gmsg.Message{Type: r.Type, Code: r.Code, MessageID: int32(r.MessageID), Token: r.Token, Payload: r.Payload})
		require.NoError(t, err)
		again, err := ParseResponse(b)
		require.NoError(t, err)
		assert.Equal(t, r.Code, again.Code)
		assert.Equal(t, r.MessageID, again.MessageID)
	})
}
