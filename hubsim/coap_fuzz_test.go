package hubsim

import (
	"context"
	"log/slog"
	"testing"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzCoAPDatagram feeds arbitrary datagrams to a session of a real hub
// (plain CoAP: no DTLS in the way). It must never panic, and every reply
// must be a well-formed ACK or RST for the datagram's message id, or a NON.
func FuzzCoAPDatagram(f *testing.F) {
	h, err := Start(context.Background(), Config{StateDir: f.TempDir(), TLSAddr: Off, TCPAddr: "127.0.0.1:0", AdminAddr: Off,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(f, err)
	f.Cleanup(func() { _ = h.Close() })
	_, err = h.CreateDevice("PFUZZ00001", "dev1", false)
	require.NoError(f, err)
	svc := h.CoAP()
	dev := DeviceRef{ProductID: "PFUZZ00001", DeviceName: "dev1"}
	tok := svc.tokens.issue(dev, h.Now(), DefaultCoAPTokenTTL)

	c := &coapClient{t: &testing.T{}, mid: 1}
	enc := func(m message.Message) []byte { return coapEncode(m) }
	f.Add(enc(c.request("PFUZZ00001/dev1/"+CoAPAuthPath, []byte("21010406;Ab3xZ\x00\x01"), withOption(CoAPOptionNeedResponse, "0"))))
	f.Add(enc(c.request("PFUZZ00001/dev1/data", []byte(`{"a":1}`), withOption(CoAPOptionToken, tok), withOption(CoAPOptionNeedResponse, "1"))))
	f.Add(enc(c.request("$ota/report/PFUZZ00001/dev1", []byte(`{"type":"report_version","report":{"version":"1.0"}}`),
		withOption(CoAPOptionToken, tok), withOption(CoAPOptionNeedResponse, "1"), splitPath)))
	f.Add(enc(c.request("PFUZZ00001/other/data", []byte("x"), withOption(CoAPOptionToken, tok))))
	f.Add(enc(c.request("PFUZZ00001/dev1/data", make([]byte, CoAPMaxPayload+1), withOption(CoAPOptionToken, tok))))
	f.Add(enc(c.request("PFUZZ00001/dev1/data", nil, withOption(CoAPOptionToken, tok), withOption(2049, "crit"))))
	non := c.request("PFUZZ00001/dev1/data", []byte("n"), withOption(CoAPOptionToken, tok))
	non.Type = message.NonConfirmable
	f.Add(enc(non))
	f.Add(enc(message.Message{Type: message.Confirmable, Code: codes.Empty, MessageID: 7}))
	f.Add(enc(message.Message{Type: message.Acknowledgement, Code: codes.Empty, MessageID: 8}))
	f.Add([]byte{0x40, 0x02, 0x12, 0x36, 0xbd})
	f.Add([]byte{0x49, 0x02, 0x12, 0x35})
	f.Add([]byte{0x40, 0x02, 0x00, 0x01, 0xff})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		s := svc.newSession("fuzz", false, DeviceRef{}, func([]byte) error { return nil }, nil)
		for _, r := range s.process(data) {
			m := message.Message{Options: make(message.Options, 0, coapMaxOptions)}
			_, err := coder.DefaultCoder.Decode(r, &m)
			require.NoError(t, err, "reply % x", r)
			switch m.Type {
			case message.Acknowledgement, message.Reset:
				assert.Equal(t, int32(data[2])<<8|int32(data[3]), m.MessageID)
			case message.NonConfirmable:
			default:
				t.Fatalf("reply of type %v", m.Type)
			}
		}
	})
}

// FuzzParseCoAPAuth checks the auth payload parser: it never panics, and
// what it accepts is the C SDK's 16-byte form — the text, a NUL, padding —
// with a known app id and a valid connection id.
func FuzzParseCoAPAuth(f *testing.F) {
	for _, s := range []string{"21010406;Ab3xZ", "21010406;Ab3xZ\x00\xff", "21010406;Ab3xZ\x00\x00", "12010126;a\x00\x00\x00\x00\x00\x00",
		"12010126;a\x00", "21010406;", ";", "", "\x00", "21010406;Ab3xZ\x00", "21010406;Ab3xZ\x00\x00\x00", "21010406;Ab3xZ9\x00",
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		a, err := ParseCoAPAuth(payload)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		require.Len(t, payload, CoAPAuthPayloadLen)
		text := a.AppID + ";" + a.ConnID
		assert.Equal(t, text+"\x00", string(payload[:len(text)+1]), "the text and its NUL lead")
		assert.Contains(t, []string{"21010406", "12010126"}, a.AppID)
		assert.True(t, validConnID(a.ConnID), "conn id %q", a.ConnID)
	})
}

func TestParseCoAPAuth(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    CoAPAuth
		wantErr bool
	}{
		{name: "SDK 16 bytes", payload: "21010406;Ab3xZ\x00\x9c", want: CoAPAuth{AppID: "21010406", ConnID: "Ab3xZ"}},
		{name: "SDK 16 bytes, zero last byte (iotd)", payload: "21010406;Ab3xZ\x00\x00", want: CoAPAuth{AppID: "21010406", ConnID: "Ab3xZ"}},
		{name: "short conn id padded to 16 bytes", payload: "12010126;q\x00\x00\x00\x00\x00\x00", want: CoAPAuth{AppID: "12010126", ConnID: "q"}},
		{name: "bare 14 characters", payload: "21010406;Ab3xZ", wantErr: true},
		{name: "15 bytes: text and NUL only", payload: "21010406;Ab3xZ\x00", wantErr: true},
		{name: "NUL terminated short", payload: "12010126;q\x00", wantErr: true},
		{name: "two bytes after the NUL", payload: "21010406;Ab3xZ\x00\x01\x02", wantErr: true},
		{name: "16 bytes, no NUL", payload: "21010406;Ab3xZ12", wantErr: true},
		{name: "16 bytes, conn id of 6", payload: "21010406;Ab3xZ9\x00", wantErr: true},
		{name: "no separator", payload: "21010406Ab3xZ\x00\x00\x00", wantErr: true},
		{name: "unknown app id", payload: "1;Ab3xZ\x00\x00\x00\x00\x00\x00\x00\x00", wantErr: true},
		{name: "empty conn id", payload: "21010406;\x00\x00\x00\x00\x00\x00", wantErr: true},
		{name: "conn id with punctuation", payload: "21010406;Ab-xZ\x00\x00", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCoAPAuth([]byte(tt.payload))
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalid)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
