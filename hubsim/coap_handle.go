package hubsim

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"

	"github.com/iotd/iotd/core"
)

// coapMaxOptions bounds the options of one request; more is malformed.
const coapMaxOptions = 64

// coapKnownCritical are the critical (odd) options the endpoint
// understands or may safely ignore; any other critical option gets 4.02
// (RFC 7252 §5.4.1).
var coapKnownCritical = map[message.OptionID]bool{
	message.URIHost: true, message.URIPort: true, message.URIPath: true, message.Accept: true,
	CoAPOptionToken: true,
}

// process handles one datagram of the session and returns the replies to
// send now. A malformed datagram is counted and dropped, or reset when its
// header names a CON (RFC 7252 §4.2). A request's reply is remembered under
// its message id, so a retransmission gets the same reply and is not
// delivered twice.
func (c *coapSession) process(data []byte) [][]byte {
	st := &c.svc.stats
	if len(data) < 4 || data[0]>>6 != 1 {
		st.malformed.Add(1)
		c.svc.h.log.Debug("CoAP datagram dropped", "remote", c.remote, "bytes", len(data), "reason", "not a CoAP version 1 header")
		return nil
	}
	typ := message.Type((data[0] >> 4) & 3)
	mid := binary.BigEndian.Uint16(data[2:4])
	m := message.Message{Options: make(message.Options, 0, coapMaxOptions)}
	if _, err := coder.DefaultCoder.Decode(data, &m); err != nil {
		st.malformed.Add(1)
		c.svc.h.log.Debug("CoAP datagram dropped", "remote", c.remote, "bytes", len(data), "reason", err)
		if typ == message.Confirmable {
			return [][]byte{coapEmpty(message.Reset, mid)}
		}
		return nil
	}
	switch {
	case typ == message.Acknowledgement || typ == message.Reset:
		c.acked(mid)
		return nil
	case m.Code == codes.Empty:
		// A CON ping is answered with RST (RFC 7252 §4.3); an empty NON
		// is a format error and silently ignored.
		if typ == message.Confirmable {
			return [][]byte{coapEmpty(message.Reset, mid)}
		}
		return nil
	case m.Code>>5 != 0:
		// A response in a CON/NON: the hub sent no request to match it.
		if typ == message.Confirmable {
			return [][]byte{coapEmpty(message.Reset, mid)}
		}
		return nil
	}
	if reply, dup := c.cached(mid); dup {
		st.duplicates.Add(1)
		c.svc.h.log.Debug("CoAP duplicate answered from cache", "remote", c.remote, "mid", mid)
		if reply == nil {
			return nil
		}
		return [][]byte{reply}
	}
	r := c.request(&m)
	var reply []byte
	if r.code != 0 {
		resp := message.Message{Code: r.code, Token: m.Token, Payload: r.payload, Options: r.options,
			Type: message.Acknowledgement, MessageID: int32(mid)}
		if typ == message.NonConfirmable {
			resp.Type, resp.MessageID = message.NonConfirmable, int32(c.mid())
		}
		reply = coapEncode(resp)
	}
	c.remember(mid, reply)
	if r.separate != nil {
		smid := c.mid()
		c.sendSeparate(smid, coapEncode(message.Message{Code: codes.Content, Token: m.Token, Payload: r.separate,
			Type: message.Confirmable, MessageID: int32(smid)}))
	}
	if reply == nil {
		return nil
	}
	return [][]byte{reply}
}

// coapResult is the outcome of a request: the immediate response (code 0:
// none) and, for the separate mode, the payload of the CON 2.05 to follow.
type coapResult struct {
	code     codes.Code
	payload  []byte
	options  message.Options
	separate []byte
}

// request handles a decoded CON or NON request.
func (c *coapSession) request(m *message.Message) coapResult {
	con := m.Type == message.Confirmable
	for _, o := range m.Options {
		if o.ID%2 == 1 && !coapKnownCritical[o.ID] {
			return c.refuse(codes.BadOption, "unrecognised critical option %d: remove it", o.ID)
		}
	}
	if m.Code != codes.POST {
		return c.refuse(codes.MethodNotAllowed, "method %v: the hub takes POST only", m.Code)
	}
	if len(m.Payload) > CoAPMaxPayload {
		var buf [4]byte
		opts, _, _ := message.Options{}.SetUint32(buf[:], message.Size1, CoAPMaxPayload)
		r := c.refuse(codes.RequestEntityTooLarge, "payload of %d bytes: the limit is %d", len(m.Payload), CoAPMaxPayload)
		r.options = opts
		return r
	}
	path := coapPath(m.Options)
	if seg := strings.Split(path, "/"); len(seg) == 3 && seg[2] == CoAPAuthPath {
		return c.auth(DeviceRef{ProductID: seg[0], DeviceName: seg[1]}, m.Payload)
	}
	return c.publish(m, path, con)
}

// refuse counts and logs an error response. The reason is for the log; it
// must not contain a token or secret.
func (c *coapSession) refuse(code codes.Code, format string, args ...any) coapResult {
	st := &c.svc.stats
	switch code {
	case codes.BadRequest:
		st.badRequest.Add(1)
	case codes.Unauthorized:
		st.unauthorized.Add(1)
	case codes.BadOption:
		st.badOption.Add(1)
	case codes.Forbidden:
		st.forbidden.Add(1)
	case codes.MethodNotAllowed:
		st.notAllowed.Add(1)
	case codes.RequestEntityTooLarge:
		st.tooLarge.Add(1)
	}
	c.svc.h.log.Warn("CoAP request refused", "remote", c.remote, "code", code.String(), "reason", fmt.Sprintf(format, args...))
	return coapResult{code: code}
}

// auth answers {pid}/{dn}/txauth9w0BAQsFA with a fresh token.
func (c *coapSession) auth(dev DeviceRef, payload []byte) coapResult {
	st := &c.svc.stats
	fail := func(code codes.Code, format string, args ...any) coapResult {
		st.authFailed.Add(1)
		return c.refuse(code, "auth "+dev.String()+": "+format, args...)
	}
	if c.secure && dev != c.psk {
		return fail(codes.Unauthorized, "the DTLS identity is %s: authenticate as that device", c.psk.ClientID())
	}
	d, err := c.svc.h.store.Device(dev.ProductID, dev.DeviceName)
	switch {
	case err != nil:
		return fail(codes.Unauthorized, "unknown device: create it with `hubsim device create`")
	case d.Disabled:
		return fail(codes.Unauthorized, "device is disabled")
	case d.AuthMode != AuthKey:
		return fail(codes.Unauthorized, "a %s device cannot use CoAP with a PSK: use a KEY device", d.AuthMode)
	}
	c.svc.recordAuth(dev, payload)
	// A payload other than the SDK's 16 bytes (the bare 14 characters
	// included) is a malformed auth, answered 4.00 like any other: see
	// ParseCoAPAuth and PROTOCOL.md §8.3 item 11, §9.
	if _, err := ParseCoAPAuth(payload); err != nil {
		return fail(codes.BadRequest, "%v", err)
	}
	tok := c.svc.tokens.issue(dev, c.svc.h.now(), c.svc.ttl)
	c.setDevice(dev)
	st.authOK.Add(1)
	c.svc.h.log.Info("CoAP auth", "device", dev.String(), "remote", c.remote, "dtls", c.secure)
	return coapResult{code: codes.Content, payload: []byte(tok)}
}

// CoAPAuth is the payload of the auth request, {appId};{connId}.
type CoAPAuth struct {
	AppID  string
	ConnID string
}

// CoAPAuthPayloadLen is the length of the auth payload the hub takes: the
// C SDK's 16 bytes, len("21010406") + COAP_MAX_CONN_ID_LEN (6) + 2
// (sdk_src/protocol/coap/coap_client_auth.c).
const CoAPAuthPayloadLen = 16

// ParseCoAPAuth decodes the auth payload. Only the C SDK's form is
// accepted: exactly CoAPAuthPayloadLen bytes holding "{appId};{connId}", a
// NUL, and padding that is not read — for the SDK's 5-character connId
// that is "21010406;Ab3xZ", NUL and one byte the SDK leaves uninitialised.
// The 16-byte form is the only one known to work with the real hub;
// whether it also takes the bare 14 characters is unconfirmed (PROTOCOL.md
// §8.3 item 11, §9), so hubsim refuses them rather than let a device pass
// here and fail there. The app id is 21010406 or 12010126; the connection
// id 1 to 5 letters or digits, as over MQTT.
func ParseCoAPAuth(payload []byte) (CoAPAuth, error) {
	const want = "send the C SDK's 16 bytes: {appId};{connId}, a NUL, one more byte"
	if len(payload) != CoAPAuthPayloadLen {
		return CoAPAuth{}, fmt.Errorf("%w: auth payload of %d bytes: %s", ErrInvalid, len(payload), want)
	}
	i := bytes.IndexByte(payload, 0)
	if i < 0 {
		return CoAPAuth{}, fmt.Errorf("%w: auth payload %q has no NUL: %s", ErrInvalid, payload, want)
	}
	text := payload[:i]
	app, conn, ok := strings.Cut(string(text), ";")
	if !ok {
		return CoAPAuth{}, fmt.Errorf("%w: auth payload %q: %s", ErrInvalid, text, want)
	}
	if app != core.SDKAppID && app != altAppID {
		return CoAPAuth{}, fmt.Errorf("%w: auth app id %q: use %s", ErrInvalid, app, core.SDKAppID)
	}
	if !validConnID(conn) {
		return CoAPAuth{}, fmt.Errorf("%w: auth connection id %q: use 1 to 5 characters from [A-Za-z0-9]", ErrInvalid, conn)
	}
	return CoAPAuth{AppID: app, ConnID: conn}, nil
}

// publish checks the token and feeds the message to the hub.
func (c *coapSession) publish(m *message.Message, topic string, con bool) coapResult {
	h := c.svc.h
	tok, err := m.Options.GetBytes(CoAPOptionToken)
	if err != nil {
		return c.refuse(codes.Unauthorized, "publish to %q without an auth token (option %d): authenticate first", topic, CoAPOptionToken)
	}
	dev, ok := c.svc.tokens.check(string(tok), h.now())
	if !ok {
		return c.refuse(codes.Unauthorized, "publish to %q: auth token unknown or expired: authenticate again", topic)
	}
	if c.secure && dev != c.psk {
		return c.refuse(codes.Unauthorized, "publish to %q: the token is %s's, the DTLS identity %s's", topic, dev, c.psk)
	}
	if topic == "" {
		return c.refuse(codes.BadRequest, "publish without a Uri-Path: put the topic in it")
	}
	needResp := false
	if v, err := m.Options.GetBytes(CoAPOptionNeedResponse); err == nil && string(v) == "1" {
		needResp = true
	}
	qos := byte(0)
	if con {
		qos = 1
	}
	msg := Message{Device: dev, Topic: topic, Payload: bytes.Clone(m.Payload), QoS: qos, Received: h.now()}
	if msg.Payload == nil {
		msg.Payload = []byte{}
	}
	if !h.Ingest(msg) {
		c.svc.stats.forbidden.Add(1)
		return coapResult{code: codes.Forbidden} // Ingest logged it
	}
	c.setDevice(dev)
	c.svc.stats.publishes.Add(1)
	var body []byte
	if needResp {
		body = c.svc.responseTo(msg)
	}
	switch {
	case c.svc.separate.Load() && con:
		r := coapResult{code: codes.Valid}
		if needResp {
			r.separate = body
			if r.separate == nil {
				r.separate = []byte{}
			}
		}
		return r
	case !con && !needResp:
		return coapResult{}
	}
	return coapResult{code: codes.Content, payload: body}
}

// responseTo is the body of the 2.05 answering a publish with
// need-response "1": for a report_version on $ota/report/{pid}/{dn}, the
// update_firmware pending for the device, or the report_version_rsp the
// hub sends over MQTT when none is; empty for anything else.
func (s *CoAPService) responseTo(m Message) []byte {
	dev, err := otaTopicDevice(m.Topic)
	if err != nil {
		return nil
	}
	r, err := ParseOTAReport(m.Payload)
	if err != nil || r.Type != "report_version" {
		return nil
	}
	if ota := s.h.OTA(); ota != nil {
		if u, ok := ota.PendingUpdate(dev); ok {
			b, _ := json.Marshal(u)
			return b
		}
	}
	b, _ := json.Marshal(map[string]any{"result_code": 0, "result_msg": "success", "type": "report_version_rsp", "version": r.Version})
	return b
}

// coapPath joins the Uri-Path options with "/": the SDK sends the topic
// as one option containing slashes, libcoap splits it into segments.
func coapPath(opts message.Options) string {
	var b strings.Builder
	for _, o := range opts {
		if o.ID == message.URIPath {
			if b.Len() > 0 {
				b.WriteByte('/')
			}
			b.Write(o.Value)
		}
	}
	return b.String()
}

func coapEmpty(typ message.Type, mid uint16) []byte {
	return coapEncode(message.Message{Type: typ, Code: codes.Empty, MessageID: int32(mid)})
}

// coapEncode encodes a message the endpoint built; those always encode.
func coapEncode(m message.Message) []byte {
	size, err := coder.DefaultCoder.Size(m)
	if err != nil {
		return nil
	}
	buf := make([]byte, size)
	n, err := coder.DefaultCoder.Encode(m, buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}
