package hubsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v2"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	dtlsdrv "github.com/iotd/iotd/drivers/posix/dtls"
)

func TestCoAPAuthAndPublish(t *testing.T) {
	rec := &routeRecorder{filter: "+/+/data"}
	h, _ := startCoAPHub(t, func(c *Config) { c.Services = []Service{rec} })
	ensureDevice(t, h, "PCOAP00001", "watcher")
	mqtt := connectKey(t, h, tcpConn(h), "PCOAP00001", "watcher")
	in := make(inbox, 8)
	subscribe(t, mqtt, "PCOAP00001/watcher/data", 1, in)

	tests := []struct {
		name    string
		auth    []byte
		split   bool
		needRsp string
		secure  bool
	}{
		{name: "dtls, SDK 16-byte auth, topic in one option", auth: []byte("21010406;Ab3xZ\x00\xa5"), needRsp: "0", secure: true},
		{name: "dtls, SDK auth with a zero last byte, split path", auth: []byte("21010406;Q1w2E\x00\x00"), split: true, needRsp: "1", secure: true},
		{name: "dtls, documented app id, short conn id padded to 16 bytes", auth: []byte("12010126;abc\x00\x01\x02\x03"), needRsp: "1", secure: true},
		{name: "plain udp", auth: []byte("21010406;Ab3xZ\x00\x00"), needRsp: "0"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dn := "dev" + string(rune('a'+i))
			var c *coapClient
			if tt.secure {
				c = newDTLSClient(t, h, "PCOAP00001", dn)
			} else {
				ensureDevice(t, h, "PCOAP00001", dn)
				c = newPlainClient(t, h)
			}
			var opts []reqOpt
			if tt.split {
				opts = append(opts, splitPath)
			}
			r := c.do(c.request("PCOAP00001/"+dn+"/"+CoAPAuthPath, tt.auth, append(opts, withOption(CoAPOptionNeedResponse, "0"))...))
			require.Equal(t, codes.Content, r.Code)
			token := string(r.Payload)
			assert.Regexp(t, `^[A-Z]{10}$`, token)

			// The watcher may use its own topic only; publish from this
			// device to its own data topic and to the watcher's channel
			// through Publish is not allowed, so it watches its own.
			topic := "PCOAP00001/" + dn + "/data"
			r = c.publish(token, topic, tt.needRsp, []byte(`{"n":1}`), opts...)
			assert.Equal(t, codes.Content, r.Code)
			assert.Empty(t, r.Payload)
			assert.Equal(t, []string{`{"n":1}`}, messagesOn(h, "PCOAP00001", dn, topic))
			var seen bool
			for _, m := range rec.messages() {
				if m.Topic == topic {
					seen = true
					assert.Equal(t, DeviceRef{ProductID: "PCOAP00001", DeviceName: dn}, m.Device)
					assert.Equal(t, byte(1), m.QoS)
				}
			}
			assert.True(t, seen, "handler saw the publish")
		})
	}

	// MQTT subscribers get CoAP publishes: a device subscribed to its own
	// data topic sees what the same device sent over CoAP.
	c := newDTLSClient(t, h, "PCOAP00001", "watcher")
	tok := c.auth("PCOAP00001", "watcher")
	r := c.publish(tok, "PCOAP00001/watcher/data", "0", []byte("over coap"))
	require.Equal(t, codes.Content, r.Code)
	assert.Equal(t, "over coap", string(in.next(t).Payload()))

	st := h.CoAP().Stats()
	assert.Equal(t, int64(5), st.AuthOK)
	assert.Equal(t, int64(5), st.Publishes)
}

func TestCoAPRefusals(t *testing.T) {
	h, clock := startCoAPHub(t, func(c *Config) { c.CoAPTokenTTL = time.Minute })
	c := newDTLSClient(t, h, "PCOAP00002", "dev1")
	ensureDevice(t, h, "PCOAP00002", "other")
	const topic = "PCOAP00002/dev1/data"

	tests := []struct {
		name  string
		do    func() message.Message
		code  codes.Code
		check func(t *testing.T, r message.Message)
	}{
		{name: "no token", code: codes.Unauthorized, do: func() message.Message {
			return c.do(c.request(topic, []byte("x"), withOption(CoAPOptionNeedResponse, "0")))
		}},
		{name: "unknown token", code: codes.Unauthorized, do: func() message.Message {
			return c.publish("NOSUCHTOKN", topic, "0", []byte("x"))
		}},
		{name: "token expired by the admin hook", code: codes.Unauthorized, do: func() message.Message {
			tok := c.auth("PCOAP00002", "dev1")
			require.Equal(t, codes.Content, c.publish(tok, topic, "0", []byte("ok")).Code)
			assert.Equal(t, 1, h.CoAP().ExpireTokens(DeviceRef{ProductID: "PCOAP00002", DeviceName: "dev1"}))
			return c.publish(tok, topic, "0", []byte("x"))
		}},
		{name: "token past its TTL", code: codes.Unauthorized, do: func() message.Message {
			tok := c.auth("PCOAP00002", "dev1")
			clock.advance(time.Minute)
			return c.publish(tok, topic, "0", []byte("x"))
		}},
		{name: "another device's topic", code: codes.Forbidden, do: func() message.Message {
			return c.publish(c.auth("PCOAP00002", "dev1"), "PCOAP00002/other/data", "0", []byte("x"))
		}},
		{name: "topic over 128 characters", code: codes.Forbidden, do: func() message.Message {
			return c.publish(c.auth("PCOAP00002", "dev1"), topic+"/"+strings.Repeat("a", 120), "0", []byte("x"))
		}},
		{name: "payload over 1 KiB", code: codes.RequestEntityTooLarge, do: func() message.Message {
			return c.publish(c.auth("PCOAP00002", "dev1"), topic, "0", bytes.Repeat([]byte("a"), CoAPMaxPayload+1))
		}, check: func(t *testing.T, r message.Message) {
			size, err := r.Options.GetUint32(message.Size1)
			require.NoError(t, err)
			assert.Equal(t, uint32(CoAPMaxPayload), size)
		}},
		{name: "unknown critical option", code: codes.BadOption, do: func() message.Message {
			return c.publish(c.auth("PCOAP00002", "dev1"), topic, "0", []byte("x"), withOption(9, "?"))
		}},
		{name: "GET", code: codes.MethodNotAllowed, do: func() message.Message {
			return c.publish(c.auth("PCOAP00002", "dev1"), topic, "0", nil, withCode(codes.GET))
		}},
		{name: "auth as another device than the DTLS identity", code: codes.Unauthorized, do: func() message.Message {
			return c.do(c.request("PCOAP00002/other/"+CoAPAuthPath, []byte("21010406;Ab3xZ\x00\x00")))
		}},
		{name: "auth with a wrong app id", code: codes.BadRequest, do: func() message.Message {
			return c.do(c.request("PCOAP00002/dev1/"+CoAPAuthPath, []byte("99999999;Ab3xZ\x00\x00")))
		}},
		{name: "auth with a long connection id", code: codes.BadRequest, do: func() message.Message {
			return c.do(c.request("PCOAP00002/dev1/"+CoAPAuthPath, []byte("21010406;Ab3xZ9\x00")))
		}},
		// PROTOCOL.md §8.3 item 11, §9: only the C SDK's 16 bytes are known
		// to work with the hub, so the bare text is a malformed auth.
		{name: "auth with the bare 14 characters", code: codes.BadRequest, do: func() message.Message {
			return c.do(c.request("PCOAP00002/dev1/"+CoAPAuthPath, []byte("21010406;Ab3xZ")))
		}, check: func(t *testing.T, _ message.Message) {
			assert.Equal(t, []byte("21010406;Ab3xZ"), h.CoAP().LastAuthPayload(DeviceRef{ProductID: "PCOAP00002", DeviceName: "dev1"}))
		}},
		{name: "auth with the text and its NUL only", code: codes.BadRequest, do: func() message.Message {
			return c.do(c.request("PCOAP00002/dev1/"+CoAPAuthPath, []byte("21010406;Ab3xZ\x00")))
		}},
		{name: "auth with two bytes after the NUL and one more", code: codes.BadRequest, do: func() message.Message {
			return c.do(c.request("PCOAP00002/dev1/"+CoAPAuthPath, []byte("21010406;Ab3xZ\x00\x00\x00")))
		}},
		{name: "auth of 16 bytes with no NUL", code: codes.BadRequest, do: func() message.Message {
			return c.do(c.request("PCOAP00002/dev1/"+CoAPAuthPath, []byte("21010406;Ab3xZ00")))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.do()
			assert.Equal(t, tt.code, r.Code)
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
	assert.Empty(t, messagesOn(h, "PCOAP00002", "other", "PCOAP00002/other/data"))
	assert.Equal(t, []string{"ok"}, messagesOn(h, "PCOAP00002", "dev1", topic))
	st := h.CoAP().Stats()
	assert.Equal(t, int64(5), st.Unauthorized) // 4 publishes and 1 auth
	assert.Equal(t, int64(2), st.Forbidden)
	assert.Equal(t, int64(1), st.TooLarge)
	assert.Equal(t, int64(1), st.BadOption)
	assert.Equal(t, int64(1), st.MethodNotAllowed)
	assert.Equal(t, int64(6), st.BadRequest)
	assert.Equal(t, int64(7), st.AuthFailed)
}

func TestCoAPMalformedDatagrams(t *testing.T) {
	h, _ := startCoAPHub(t, nil)
	c := newDTLSClient(t, h, "PCOAP00003", "dev1")
	tok := c.auth("PCOAP00003", "dev1")

	tests := []struct {
		name  string
		data  []byte
		reset bool // a CON whose header parses is reset
	}{
		{name: "too short", data: []byte{0x40, 0x02}},
		{name: "version 2", data: []byte{0x80, 0x02, 0x12, 0x34}},
		{name: "CON with token length 9", data: []byte{0x49, 0x02, 0x12, 0x35, 1, 2, 3, 4, 5, 6, 7, 8, 9}, reset: true},
		{name: "CON with a truncated option", data: []byte{0x40, 0x02, 0x12, 0x36, 0xbd}, reset: true},
		{name: "CON with a payload marker and no payload", data: []byte{0x40, 0x02, 0x12, 0x37, 0xff}, reset: true},
		{name: "NON with option delta 15", data: []byte{0x50, 0x02, 0x12, 0x38, 0xf1, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.send(tt.data)
			if tt.reset {
				r := c.next()
				assert.Equal(t, message.Reset, r.Type)
				assert.Equal(t, codes.Empty, r.Code)
				assert.Equal(t, int32(tt.data[2])<<8|int32(tt.data[3]), r.MessageID)
			}
		})
	}
	// The session survived: a good publish still works.
	r := c.publish(tok, "PCOAP00003/dev1/data", "0", []byte("after"))
	assert.Equal(t, codes.Content, r.Code)
	assert.Equal(t, []string{"after"}, messagesOn(h, "PCOAP00003", "dev1", "PCOAP00003/dev1/data"))
	assert.Equal(t, int64(len(tests)), h.CoAP().Stats().Malformed)
}

func TestCoAPDuplicateDeliveredOnce(t *testing.T) {
	tests := []struct {
		name     string
		separate bool
	}{
		{name: "piggy-backed"},
		{name: "separate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := startCoAPHub(t, func(c *Config) { c.CoAPSeparate = tt.separate })
			c := newDTLSClient(t, h, "PCOAP00004", "dev1")
			tok := c.auth("PCOAP00004", "dev1")
			req := c.encode(c.request("PCOAP00004/dev1/data", []byte("once"),
				withOption(CoAPOptionToken, tok), withOption(CoAPOptionNeedResponse, "0")))
			c.send(req)
			first := c.next()
			c.send(req) // as if the ACK had been lost
			second := c.next()
			assert.Equal(t, first, second)
			want := codes.Content
			if tt.separate {
				want = codes.Valid
			}
			assert.Equal(t, want, first.Code)
			assert.Equal(t, []string{"once"}, messagesOn(h, "PCOAP00004", "dev1", "PCOAP00004/dev1/data"))
			assert.Equal(t, int64(1), h.CoAP().Stats().Duplicates)
			assert.Equal(t, int64(1), h.CoAP().Stats().Publishes)
		})
	}
}

func TestCoAPHandshakeRefused(t *testing.T) {
	h, _ := startCoAPHub(t, nil)
	good := ensureDevice(t, h, "PCOAP00005", "dev1")
	_, err := h.CreateDevice("PCOAP00005", "certdev", true)
	require.NoError(t, err)
	_, err = h.CreateDevice("PCOAP00005", "off", false)
	require.NoError(t, err)
	require.NoError(t, h.Store().SetDisabled("PCOAP00005", "off", true))
	key, err := base64.StdEncoding.DecodeString(good.Secret)
	require.NoError(t, err)
	wrong := append([]byte(nil), key...)
	wrong[0] ^= 0xff

	tests := []struct {
		name     string
		identity string
		key      []byte
	}{
		{name: "wrong key", identity: "PCOAP00005dev1", key: wrong},
		{name: "unknown identity", identity: "PCOAP00005nobody", key: key},
		{name: "cert-only device", identity: "PCOAP00005certdev", key: key},
		{name: "disabled device", identity: "PCOAP00005off", key: key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A wrong key fails the server's Finished check, which DTLS
			// drops silently: the client gives up on its own.
			conn, err := dialDTLS(h.CoAPAddr(), tt.identity, tt.key, 3*time.Second)
			if conn != nil {
				_ = conn.Close()
			}
			require.Error(t, err)
		})
	}
	// The endpoint keeps serving.
	c := newDTLSClient(t, h, "PCOAP00005", "dev1")
	tok := c.auth("PCOAP00005", "dev1")
	assert.Equal(t, codes.Content, c.publish(tok, "PCOAP00005/dev1/data", "0", []byte("x")).Code)
	// The wrong key's failure is counted at the server's handshake timeout.
	waitFor(t, "handshake failures counted", func() bool { return h.CoAP().Stats().HandshakeFailed >= int64(len(tests)-1) })
}

func TestCoAPSeparateResponse(t *testing.T) {
	h, _ := startCoAPHub(t, func(c *Config) { c.CoAPSeparate = true })
	c := newDTLSClient(t, h, "PCOAP00006", "dev1")
	tok := c.auth("PCOAP00006", "dev1") // auth is always piggy-backed

	// need-response "0": the 2.03 ACK is all.
	r := c.publish(tok, "PCOAP00006/dev1/data", "0", []byte("a"))
	assert.Equal(t, codes.Valid, r.Code)
	assert.Equal(t, int64(0), h.CoAP().Stats().Separate)

	// need-response "1": 2.03 ACK, then CON 2.05 with the request's token,
	// retransmitted until acknowledged.
	req := c.request("PCOAP00006/dev1/data", []byte("b"), withOption(CoAPOptionToken, tok), withOption(CoAPOptionNeedResponse, "1"))
	ack := c.do(req)
	assert.Equal(t, codes.Valid, ack.Code)
	assert.Empty(t, ack.Payload)
	sep := c.next()
	assert.Equal(t, message.Confirmable, sep.Type)
	assert.Equal(t, codes.Content, sep.Code)
	assert.Equal(t, req.Token, sep.Token)
	again := c.next() // not acknowledged: sent again, same message id
	assert.Equal(t, sep.MessageID, again.MessageID)
	assert.Equal(t, sep.Token, again.Token)
	c.send(c.encode(message.Message{Type: message.Acknowledgement, Code: codes.Empty, MessageID: sep.MessageID}))
	waitFor(t, "the separate response acknowledged", func() bool { return c.svcPending(h) == 0 })
	st := h.CoAP().Stats()
	assert.Equal(t, int64(1), st.Separate)
	assert.GreaterOrEqual(t, st.Retransmits, int64(1))
	assert.Equal(t, int64(0), st.Unacked)
	assert.Equal(t, []string{"a", "b"}, messagesOn(h, "PCOAP00006", "dev1", "PCOAP00006/dev1/data"))

	// Switched off at run time: piggy-backed again.
	h.CoAP().SetSeparate(false)
	assert.Equal(t, codes.Content, c.publish(tok, "PCOAP00006/dev1/data", "1", []byte("c")).Code)
}

// svcPending counts separate responses still awaiting an ACK in h.
func (c *coapClient) svcPending(h *Hub) int {
	s := h.CoAP()
	s.mu.Lock()
	sessions := make([]*coapSession, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	n := 0
	for _, sess := range sessions {
		sess.mu.Lock()
		n += len(sess.pending)
		sess.mu.Unlock()
	}
	return n
}

func TestCoAPOTAReport(t *testing.T) {
	tests := []struct {
		name     string
		separate bool
	}{
		{name: "piggy-backed"},
		{name: "separate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := startCoAPHub(t, func(c *Config) { c.CoAPSeparate = tt.separate })
			c := newDTLSClient(t, h, "PCOAP00007", "dev1")
			dev := DeviceRef{ProductID: "PCOAP00007", DeviceName: "dev1"}
			const topic = "$ota/report/PCOAP00007/dev1"
			// answer returns the 2.05 payload for a need-response publish.
			answer := func(tok string, payload string) string {
				t.Helper()
				r := c.publish(tok, topic, "1", []byte(payload))
				if !tt.separate {
					require.Equal(t, codes.Content, r.Code)
					return string(r.Payload)
				}
				require.Equal(t, codes.Valid, r.Code)
				sep := c.next()
				require.Equal(t, codes.Content, sep.Code)
				c.send(c.encode(message.Message{Type: message.Acknowledgement, Code: codes.Empty, MessageID: sep.MessageID}))
				return string(sep.Payload)
			}
			// Offline over CoAP before auth: a push is refused.
			ota := h.OTA()
			_, err := ota.Upload("", "2.0.0", []byte("firmware image"))
			require.NoError(t, err)
			_, err = ota.Push(dev, OTAPushRequest{Version: "2.0.0"})
			require.ErrorIs(t, err, ErrOffline)

			tok := c.auth("PCOAP00007", "dev1")
			report := `{"type": "report_version", "report":{"version":"1.0.0"}}`
			assert.JSONEq(t, `{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"1.0.0"}`, answer(tok, report))

			u, err := ota.Push(dev, OTAPushRequest{Version: "2.0.0"})
			require.NoError(t, err, "a device with a CoAP session is reachable")
			want := string(mustJSON(u))
			assert.JSONEq(t, want, answer(tok, report))
			assert.Contains(t, want, `"type":"update_firmware"`)

			// Progress reports reach the OTA service as over MQTT.
			progress := `{"type": "report_progress", "report": {"progress": {"state":"downloading", "percent":"31", "result_code":"0", "result_msg":""}, "version": "2.0.0"}}`
			r := c.publish(tok, topic, "0", []byte(progress))
			assert.Contains(t, []codes.Code{codes.Content, codes.Valid}, r.Code)
			st := ota.DeviceStatus(dev)
			assert.Equal(t, "downloading", st.State)
			assert.Equal(t, "31", st.Percent)
			assert.Equal(t, "1.0.0", st.Version)

			// Once the device runs the target, nothing is pending.
			report2 := `{"type": "report_version", "report":{"version":"2.0.0"}}`
			assert.JSONEq(t, `{"result_code":0,"result_msg":"success","type":"report_version_rsp","version":"2.0.0"}`, answer(tok, report2))
			_, pending := ota.PendingUpdate(dev)
			assert.False(t, pending)
		})
	}
}

func TestCoAPIdleSessionExpires(t *testing.T) {
	h, _ := startCoAPHub(t, func(c *Config) { c.CoAPIdleTimeout = 300 * time.Millisecond })
	c := newDTLSClient(t, h, "PCOAP00008", "dev1")
	tok := c.auth("PCOAP00008", "dev1")
	p := newPlainClient(t, h)
	p.auth("PCOAP00008", "dev1")
	waitFor(t, "both sessions expired", func() bool { return h.CoAP().Info().Sessions == 0 })
	// The DTLS connection is gone; a new handshake gets a new session, and
	// the token (not the session) is what publishes need.
	c2 := newDTLSClient(t, h, "PCOAP00008", "dev1")
	assert.Equal(t, codes.Content, c2.publish(tok, "PCOAP00008/dev1/data", "0", []byte("x")).Code)
}

func TestCoAPOffByDefault(t *testing.T) {
	h, err := Start(context.Background(), Config{StateDir: t.TempDir(), TLSAddr: Off, TCPAddr: "127.0.0.1:0", AdminAddr: Off,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer h.Close()
	assert.Empty(t, h.CoAPAddr())
	assert.Empty(t, h.CoAPPlainAddr())
	require.NotNil(t, h.CoAP())
	assert.Equal(t, CoAPInfo{TokenTTL: DefaultCoAPTokenTTL.String()}, h.CoAP().Info())
}

func TestCoAPAdminAPI(t *testing.T) {
	h, _ := startCoAPHub(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := NewClient(h.AdminURL())
	c := newDTLSClient(t, h, "PCOAP00009", "dev1")
	tok := c.auth("PCOAP00009", "dev1")

	info, err := cl.CoAPInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, h.CoAPAddr(), info.DTLSAddr)
	assert.Equal(t, h.CoAPPlainAddr(), info.PlainAddr)
	assert.Equal(t, 1, info.Sessions)
	assert.Equal(t, int64(1), info.Stats.AuthOK)
	assert.False(t, info.Separate)

	require.NoError(t, cl.SetCoAPMode(ctx, CoAPMode{Separate: true}))
	assert.Equal(t, codes.Valid, c.publish(tok, "PCOAP00009/dev1/data", "0", nil).Code)

	n, err := cl.ExpireCoAPTokens(ctx, "PCOAP00009", "dev1")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, codes.Unauthorized, c.publish(tok, "PCOAP00009/dev1/data", "0", nil).Code)
	_, err = cl.ExpireCoAPTokens(ctx, "PCOAP00009", "nobody")
	require.Error(t, err)
}

// TestCoAPCloseStopsEverything closes a hub with an established DTLS
// session, a handshake left half-way, a separate response awaiting its ACK
// and a plain session: every goroutine the endpoint started ends.
func TestCoAPCloseStopsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	h, _ := startCoAPHub(t, func(c *Config) { c.CoAPSeparate = true })
	c := newDTLSClient(t, h, "PCOAP00010", "dev1")
	tok := c.auth("PCOAP00010", "dev1")
	assert.Equal(t, codes.Valid, c.publish(tok, "PCOAP00010/dev1/data", "1", []byte("x")).Code)
	assert.Equal(t, codes.Content, c.next().Code) // the separate response, never acknowledged
	p := newPlainClient(t, h)
	p.auth("PCOAP00010", "dev1")
	half, err := net.Dial("udp", h.CoAPAddr())
	require.NoError(t, err)
	defer half.Close()
	// A ClientHello record header and nothing sensible after it: the hub
	// accepts a connection and waits in the handshake.
	_, err = half.Write([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	require.NoError(t, err)
	waitFor(t, "two sessions", func() bool { return h.CoAP().Info().Sessions == 2 })

	require.NoError(t, h.Close())
	c.close()
	p.close()
	_ = half.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestCoAPCipherSuites(t *testing.T) {
	h, _ := startCoAPHub(t, nil)
	d := ensureDevice(t, h, "PCOAP00011", "dev1")
	key, err := base64.StdEncoding.DecodeString(d.Secret)
	require.NoError(t, err)
	tests := []struct {
		name  string
		suite piondtls.CipherSuiteID
	}{
		{name: "hub's PSK AES-128-CBC-SHA", suite: dtlsdrv.TLS_PSK_WITH_AES_128_CBC_SHA},
		{name: "hub's PSK AES-256-CBC-SHA", suite: dtlsdrv.TLS_PSK_WITH_AES_256_CBC_SHA},
		{name: "PSK AES-128-GCM-SHA256", suite: piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256},
		{name: "PSK AES-128-CCM-8", suite: piondtls.TLS_PSK_WITH_AES_128_CCM_8},
		{name: "PSK AES-128-CCM", suite: piondtls.TLS_PSK_WITH_AES_128_CCM},
		{name: "PSK AES-128-CBC-SHA256", suite: piondtls.TLS_PSK_WITH_AES_128_CBC_SHA256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suite := tt.suite
			conn, err := dialDTLSSuite(h.CoAPAddr(), "PCOAP00011dev1", key, 10*time.Second, suite)
			require.NoError(t, err)
			c := &coapClient{t: t, conn: conn, mid: 1}
			t.Cleanup(c.close)
			tok := c.auth("PCOAP00011", "dev1")
			assert.Equal(t, codes.Content, c.publish(tok, "PCOAP00011/dev1/data", "0", []byte(tt.name)).Code)
		})
	}
	assert.Len(t, messagesOn(h, "PCOAP00011", "dev1", "PCOAP00011/dev1/data"), len(tests))
}

func TestCoAPNonConfirmable(t *testing.T) {
	h, _ := startCoAPHub(t, nil)
	c := newDTLSClient(t, h, "PCOAP00012", "dev1")
	tok := c.auth("PCOAP00012", "dev1")
	non := func(token, needResp, payload string) message.Message {
		m := c.request("PCOAP00012/dev1/data", []byte(payload), withOption(CoAPOptionToken, token), withOption(CoAPOptionNeedResponse, needResp))
		m.Type = message.NonConfirmable
		c.send(c.encode(m))
		return m
	}

	// No reply without need-response: the next datagram answers the CON
	// sent after it (a session's datagrams are handled in order).
	non(tok, "0", "quiet")
	assert.Equal(t, codes.Content, c.publish(tok, "PCOAP00012/dev1/data", "0", []byte("con")).Code)

	req := non(tok, "1", "loud")
	r := c.next()
	assert.Equal(t, message.NonConfirmable, r.Type)
	assert.Equal(t, codes.Content, r.Code)
	assert.Equal(t, req.Token, r.Token)

	req = non("NOSUCHTOKN", "0", "denied")
	r = c.next()
	assert.Equal(t, message.NonConfirmable, r.Type)
	assert.Equal(t, codes.Unauthorized, r.Code)
	assert.Equal(t, req.Token, r.Token)

	assert.Equal(t, []string{"quiet", "con", "loud"}, messagesOn(h, "PCOAP00012", "dev1", "PCOAP00012/dev1/data"))
	for _, rec := range h.Messages("PCOAP00012", "dev1") {
		if rec.Payload == "quiet" {
			assert.Equal(t, byte(0), rec.QoS)
		}
	}
}
