package hubsim

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// sysAlias stands in for a "$sys" topic prefix while mochi processes a
// publish: mochi drops client publishes to any topic starting with $SYS
// (case-insensitively), and the hub's $sys/operation is such a topic. The
// prefix is swapped in when the packet is read and back in OnPublish.
const sysAlias = "$hubsim-sys"

// qos2Denied prefixes a subscription filter requested with QoS 2. The
// result is an invalid filter, so mochi answers SUBACK 0x80 for it.
const qos2Denied = "#/qos2-denied/"

// hook connects mochi's callbacks to the Hub: CONNECT checks and
// authentication, ACL and publish limits, the message log, and dispatch to
// services.
//
// Refusals that close a connection are made in OnPacketRead, which runs on
// the connection's reader before mochi processes the packet: an error
// wrapping packets.ErrRejectPacket there ends the connection with nothing
// written. Later hooks cannot do that under MQTT 3.1.1: an error from
// OnPublish either drops the message silently (no PUBACK, no close: the
// client's QoS 1 publish waits forever) or lets mochi acknowledge it.
type hook struct {
	mqtt.HookBase
	h *Hub
}

func (k *hook) ID() string { return "hubsim" }

func (k *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablish, mqtt.OnSessionEstablished,
		mqtt.OnDisconnect, mqtt.OnACLCheck, mqtt.OnPacketRead, mqtt.OnPacketEncode, mqtt.OnSubscribe,
		mqtt.OnSubscribed, mqtt.OnUnsubscribed, mqtt.OnPublish, mqtt.OnPublished,
	}, []byte{b})
}

// OnConnect authenticates; a refused client gets its CONNACK here and the
// returned error makes mochi close the connection.
func (k *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	h := k.h
	tc := peerTLS(cl.Net.Conn)
	req := connectRequest{
		ClientID: pk.Connect.ClientIdentifier,
		Username: string(pk.Connect.Username),
		Password: pk.Connect.Password,
		TLS:      tc != nil,
	}
	if tc != nil {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			req.PeerCert = certs[0] // verified against the CA by the handshake
		}
	}
	dev, ref := authenticate(req, h.now(), h.store.DeviceByClientID)
	if ref != nil {
		k.refuseConnect(cl, req.ClientID, dev.ProductID != "", ref)
		return ref
	}
	h.log.Info("connect accepted", "device", dev.ProductID+"/"+dev.DeviceName, "auth", dev.AuthMode,
		"remote", cl.Net.Remote, "listener", cl.Net.Listener, "keepalive", pk.Connect.Keepalive)
	return nil
}

// peerTLS finds the TLS connection under a client's connection: the
// connection itself on the TLS listener, under the WebSocket on wss. It
// returns nil for a plain connection.
func peerTLS(c net.Conn) *tls.Conn {
	for range 8 {
		switch v := c.(type) {
		case *tls.Conn:
			return v
		case interface{ Unwrap() net.Conn }:
			c = v.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// refuseConnect records and logs a refused CONNECT and answers it with
// CONNACK ref.Code, or with nothing when the code is 0.
func (k *hook) refuseConnect(cl *mqtt.Client, clientID string, known bool, ref *refusal) {
	h := k.h
	h.tracker.refuse(Refusal{Time: h.now().UTC(), ClientID: clientID, Remote: cl.Net.Remote, Code: ref.Code, Reason: ref.Reason}, known)
	h.log.Warn("connect refused", "client", clientID, "remote", cl.Net.Remote, "listener", cl.Net.Listener,
		"connack", ref.Code, "reason", ref.Reason)
	if ref.Code != 0 {
		// Written directly: the packet carries the 3.1.1 return code as is
		// and no v5 properties (OnPacketEncode sees to the latter too).
		_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: ref.Code})
	}
}

// checkConnect applies the hub's protocol rules to a connection's CONNECT
// before mochi validates it: mochi would otherwise answer some CONNECTs
// with MQTT 5 reason codes (0x80 and up) or a v5 CONNACK. Only 3.1.1 (and
// 3.1) clients get through; a malformed CONNECT closes the connection
// without a CONNACK, as MQTT 3.1.1 §3.1.4 asks. A will is removed: the hub
// supports none (PROTOCOL.md §1.2), and it is accepted and ignored.
func (k *hook) checkConnect(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	c := &pk.Connect
	id := c.ClientIdentifier
	_, known := k.h.store.DeviceByClientID(id)
	fail := func(code byte, format string, args ...any) (packets.Packet, error) {
		ref := refuse(code, format, args...)
		k.refuseConnect(cl, id, known, ref)
		return pk, errors.Join(packets.ErrRejectPacket, ref)
	}
	name, level := string(c.ProtocolName), pk.ProtocolVersion
	switch {
	case name == "MQTT" && level == 4, name == "MQIsdp" && level == 3:
	case name == "MQTT" || name == "MQIsdp":
		return fail(CodeUnacceptableProtocol, "protocol %s level %d%s: the hub speaks MQTT 3.1.1 (MQTT level 4) and 3.1 (MQIsdp level 3) only",
			name, level, map[bool]string{true: " (MQTT 5)"}[level == 5])
	default:
		return fail(0, "protocol name %q is not MQTT: connection closed without CONNACK", name)
	}
	switch {
	case pk.ReservedBit != 0:
		return fail(0, "malformed CONNECT: reserved flag set: connection closed without CONNACK")
	case c.WillQos > 2:
		return fail(0, "malformed CONNECT: will QoS 3: connection closed without CONNACK")
	case !c.WillFlag && (c.WillQos != 0 || c.WillRetain):
		return fail(0, "malformed CONNECT: will QoS or retain without a will: connection closed without CONNACK")
	case c.PasswordFlag && !c.UsernameFlag:
		return fail(0, "malformed CONNECT: password without a username: connection closed without CONNACK")
	}
	c.WillFlag, c.WillQos, c.WillRetain, c.WillTopic, c.WillPayload = false, 0, false, "", nil
	if code := pk.ConnectValidate(); code != packets.CodeSuccess {
		return fail(0, "malformed CONNECT: %s: connection closed without CONNACK", code.Reason)
	}
	if id == "" {
		return fail(CodeIdentifierRejected, "empty client id: send productId+deviceName")
	}
	return pk, nil
}

// OnPacketEncode keeps every CONNACK MQTT 3.1.1: no v5 properties, and a
// return code from 0 to 5. checkConnect and OnConnect leave mochi no
// refusal of its own to make; this maps one should a mochi version add
// another.
func (k *hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Connack {
		return pk
	}
	pk.ProtocolVersion = 4
	if pk.ReasonCode > CodeNotAuthorized {
		code := connackV3(pk.ReasonCode)
		k.h.log.Warn("connect refused by the broker", "client", cl.ID, "remote", cl.Net.Remote,
			"mochi_code", pk.ReasonCode, "connack", code)
		pk.ReasonCode = code
	}
	if pk.ReasonCode != 0 {
		pk.SessionPresent = false // [MQTT-3.2.2-4]
	}
	return pk
}

// connackV3 maps an MQTT 5 CONNACK reason code to a 3.1.1 return code.
func connackV3(code byte) byte {
	switch code {
	case packets.ErrUnsupportedProtocolVersion.Code, packets.ErrProtocolViolation.Code:
		return CodeUnacceptableProtocol
	case packets.ErrClientIdentifierNotValid.Code:
		return CodeIdentifierRejected
	case packets.ErrMalformedPacket.Code, packets.ErrBadUsernameOrPassword.Code, packets.ErrBadAuthenticationMethod.Code:
		return CodeBadCredentials
	case packets.ErrNotAuthorized.Code, packets.ErrBanned.Code:
		return CodeNotAuthorized
	default:
		return CodeServerUnavailable
	}
}

func (k *hook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

// OnSessionEstablish closes the connection of an earlier session with the
// same client id (the hub keeps one per device). Closing it here, before
// mochi takes the session over, keeps mochi from sending that client a
// DISCONNECT, a packet only clients send in MQTT 3.1.1.
func (k *hook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	if old, ok := k.h.broker.Clients.Get(cl.ID); ok && old != cl && !old.Closed() {
		k.h.log.Info("session taken over", "client", cl.ID, "old_remote", old.Net.Remote, "new_remote", cl.Net.Remote)
		old.Stop(packets.ErrSessionTakenOver)
	}
}

func (k *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h := k.h
	h.mu.Lock()
	h.active[cl.ID] = cl
	h.mu.Unlock()
	h.tracker.update(cl.ID, func(st *deviceState) {
		st.status.Connected = true
		st.status.Remote = cl.Net.Remote
		st.status.Listener = cl.Net.Listener
		st.status.LastConnect = h.now().UTC()
		clear(st.subs)
		for _, s := range cl.State.Subscriptions.GetAll() {
			st.subs[s.Filter] = s.Qos
		}
	})
}

func (k *hook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	h := k.h
	h.mu.Lock()
	current := h.active[cl.ID] == cl
	if current {
		delete(h.active, cl.ID)
	}
	h.mu.Unlock()
	if !current {
		return // a refused CONNECT, or a session already taken over
	}
	h.tracker.update(cl.ID, func(st *deviceState) {
		st.status.Connected = false
		clear(st.subs)
	})
	if cause := cl.StopCause(); cause != nil && err != nil {
		err = cause // why the hub closed it, rather than the read error that followed
	}
	attrs := []any{"client", cl.ID, "remote", cl.Net.Remote}
	if err != nil {
		attrs = append(attrs, "reason", err.Error())
	}
	h.log.Info("disconnected", attrs...)
}

// deviceOf returns the device a connected client authenticated as.
func (k *hook) deviceOf(cl *mqtt.Client) (DeviceRef, bool) {
	d, ok := k.h.store.DeviceByClientID(cl.ID)
	if !ok {
		return DeviceRef{}, false
	}
	return DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}, true
}

// OnACLCheck governs subscriptions and deliveries. Publishes always pass
// here: the publish ACL is applied in OnPacketRead (checkPublish), which
// closes the connection as the hub does, where mochi would answer a denied
// QoS 1 publish of a 3.1.1 client with a DISCONNECT packet.
func (k *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline || write {
		return true
	}
	dev, ok := k.deviceOf(cl)
	return ok && k.h.allowed(dev, topic, false)
}

// OnPacketRead checks a connection's CONNECT, refuses publishes the hub
// would refuse (closing the connection) and renames $sys publishes out of
// mochi's way.
func (k *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	switch pk.FixedHeader.Type {
	case packets.Connect:
		if cl.ID != "" { // set from the first CONNECT
			return pk, nil // a second CONNECT: mochi closes the connection
		}
		return k.checkConnect(cl, pk)
	case packets.Publish:
		if err := k.checkPublish(cl, pk); err != nil {
			return pk, errors.Join(packets.ErrRejectPacket, err)
		}
		if len(pk.TopicName) >= 4 && strings.EqualFold(pk.TopicName[:4], "$sys") {
			pk.TopicName = sysAlias + pk.TopicName[4:]
		}
	}
	return pk, nil
}

// checkPublish returns an error, after recording and logging the refusal,
// for a publish the hub refuses: QoS 2, a topic outside the device's ACL
// (AT error 130), a payload over MaxPayload (132), or one over the
// device's publish rate (131). The hub answers each by closing the
// connection: over MQTT 3.1.1 a PUBACK cannot say no.
func (k *hook) checkPublish(cl *mqtt.Client, pk packets.Packet) error {
	h := k.h
	qos, topic, n := pk.FixedHeader.Qos, pk.TopicName, len(pk.Payload)
	ref := PublishRefusal{Time: h.now().UTC(), Topic: topic, QoS: qos, Bytes: n}
	dev, ok := k.deviceOf(cl)
	switch {
	case qos == 2:
		ref.Reason = "qos 2 is not supported by the hub; use qos 0 or 1"
	case len(topic) > MaxTopicLen:
		ref.Code, ref.Reason = PublishUnauthorized, "topic longer than 128 characters"
	case !ok || !h.allowed(dev, topic, true):
		ref.Code, ref.Reason = PublishUnauthorized, "topic outside the device's ACL"
	case h.cfg.MaxPayload > 0 && n > h.cfg.MaxPayload:
		ref.Code = PublishTooLong
		ref.Reason = fmt.Sprintf("payload of %d bytes is over the hub's limit of %d", n, h.cfg.MaxPayload)
	case !h.limiter.allow(cl.ID):
		ref.Code = PublishRateLimited
		ref.Reason = fmt.Sprintf("over the publish rate of %g a second (burst %d)", h.cfg.PublishRate, h.cfg.PublishBurst)
	default:
		return nil
	}
	payload := pk.Payload
	if ref.Code == PublishTooLong {
		payload = nil // the reason gives its size
	}
	h.tracker.refusePublish(cl.ID, ref, withDenied(newRecord(h.now(), Up, topic, qos, payload), ref.Reason))
	h.log.Warn("publish refused, connection closed", "client", cl.ID, "topic", topic, "qos", qos, "bytes", n,
		"code", ref.Code, "reason", ref.Reason)
	return ref.err()
}

// OnSubscribe denies QoS 2 subscriptions by making their filter invalid.
func (k *hook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	for i, f := range pk.Filters {
		if f.Qos == 2 {
			pk.Filters[i].Filter = qos2Denied + f.Filter
		}
	}
	return pk
}

func (k *hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	h := k.h
	for i, f := range pk.Filters {
		if i >= len(codes) {
			break
		}
		filter, reason := f.Filter, "topic outside the device's ACL"
		if strings.HasPrefix(filter, qos2Denied) {
			filter, reason = strings.TrimPrefix(filter, qos2Denied), "qos 2 is not supported; use 0 or 1"
		} else if len(filter) > MaxTopicLen {
			reason = "topic longer than 128 characters"
		}
		if codes[i] >= packets.ErrUnspecifiedError.Code {
			h.tracker.update(cl.ID, func(st *deviceState) { st.status.DeniedSubscribes++ })
			h.log.Warn("subscribe denied", "client", cl.ID, "filter", filter, "reason", reason)
			continue
		}
		h.tracker.update(cl.ID, func(st *deviceState) { st.subs[filter] = codes[i] })
		h.log.Info("subscribed", "client", cl.ID, "filter", filter, "qos", codes[i])
	}
}

func (k *hook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	for _, f := range pk.Filters {
		k.h.tracker.update(cl.ID, func(st *deviceState) { delete(st.subs, f.Filter) })
		k.h.log.Info("unsubscribed", "client", cl.ID, "filter", f.Filter)
	}
}

// OnPublish restores $sys topics and records the message; checkPublish
// has already refused what the hub refuses.
func (k *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	h := k.h
	if strings.HasPrefix(pk.TopicName, sysAlias) {
		pk.TopicName = "$sys" + strings.TrimPrefix(pk.TopicName, sysAlias)
	}
	dev, _ := k.deviceOf(cl)
	pk.FixedHeader.Retain = false // the hub keeps no retained messages
	h.tracker.record(cl.ID, newRecord(h.now(), Up, pk.TopicName, pk.FixedHeader.Qos, pk.Payload))
	h.logPublish("publish", dev, pk.TopicName, pk.FixedHeader.Qos, pk.Payload)
	return pk, nil
}

// OnPublished hands an accepted device publish to the services.
func (k *hook) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline || pk.Ignore {
		return
	}
	dev, ok := k.deviceOf(cl)
	if !ok {
		return
	}
	k.h.dispatch(Message{Device: dev, Topic: pk.TopicName, Payload: pk.Payload, QoS: pk.FixedHeader.Qos, Received: k.h.now()})
}
