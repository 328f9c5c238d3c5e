package hubsim

import (
	"bytes"
	"crypto/tls"
	"errors"
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

// errQoS2 closes a connection that published with QoS 2.
var errQoS2 = errors.New("hubsim: qos 2 is not supported")

// hook connects mochi's callbacks to the Hub: CONNECT authentication, ACL,
// the message log, and dispatch to services.
type hook struct {
	mqtt.HookBase
	h *Hub
}

func (k *hook) ID() string { return "hubsim" }

func (k *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablished, mqtt.OnDisconnect,
		mqtt.OnACLCheck, mqtt.OnPacketRead, mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnUnsubscribed,
		mqtt.OnPublish, mqtt.OnPublished,
	}, []byte{b})
}

// OnConnect authenticates; a refused client gets its CONNACK here and the
// returned error makes mochi close the connection.
func (k *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	h := k.h
	req := connectRequest{
		ClientID: pk.Connect.ClientIdentifier,
		Username: string(pk.Connect.Username),
		Password: pk.Connect.Password,
		TLS:      cl.Net.Listener == "tls",
	}
	if tc, ok := cl.Net.Conn.(*tls.Conn); ok {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			req.PeerCert = certs[0] // verified against the CA by the handshake
		}
	}
	dev, ref := authenticate(req, h.now(), h.store.DeviceByClientID)
	if ref != nil {
		h.tracker.refuse(Refusal{Time: h.now().UTC(), ClientID: req.ClientID, Remote: cl.Net.Remote, Code: ref.Code, Reason: ref.Reason},
			dev.ProductID != "")
		h.log.Warn("connect refused", "client", req.ClientID, "remote", cl.Net.Remote, "listener", cl.Net.Listener,
			"connack", ref.Code, "reason", ref.Reason)
		_ = h.broker.SendConnack(cl, connackCode(cl, ref.Code), false, nil)
		return ref
	}
	// The hub supports neither will messages nor retain; a will is ignored.
	cl.Properties.Will = mqtt.Will{}
	h.log.Info("connect accepted", "device", dev.ProductID+"/"+dev.DeviceName, "auth", dev.AuthMode,
		"remote", cl.Net.Remote, "listener", cl.Net.Listener, "keepalive", pk.Connect.Keepalive)
	return nil
}

// connackCode maps a 3.1.1 return code to the mochi code that encodes it
// for the client's protocol version.
func connackCode(cl *mqtt.Client, code byte) packets.Code {
	v5 := cl.Properties.ProtocolVersion == 5
	switch code {
	case CodeIdentifierRejected:
		return packets.ErrClientIdentifierNotValid
	case CodeBadCredentials:
		if v5 {
			return packets.ErrBadUsernameOrPassword
		}
		return packets.ErrMalformedUsername // mochi sends 0x04 to v3 clients for this
	default:
		if v5 {
			return packets.ErrNotAuthorized
		}
		return packets.ErrBadUsernameOrPassword // mochi sends 0x05 to v3 clients for this
	}
}

func (k *hook) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

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
// here: the publish ACL is applied in OnPublish, where a denied message can
// be acknowledged and dropped as the hub does, instead of mochi closing the
// connection.
func (k *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline || write {
		return true
	}
	dev, ok := k.deviceOf(cl)
	return ok && k.h.allowed(dev, topic, false)
}

// OnPacketRead renames $sys publishes out of mochi's way and refuses QoS 2
// publishes.
func (k *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish {
		return pk, nil
	}
	if pk.FixedHeader.Qos == 2 {
		k.h.log.Warn("publish refused, connection closed", "client", cl.ID, "topic", pk.TopicName,
			"reason", "qos 2 is not supported by the hub; use qos 0 or 1")
		k.h.tracker.update(cl.ID, func(st *deviceState) { st.status.DeniedPublishes++ })
		return pk, errors.Join(packets.ErrRejectPacket, errQoS2)
	}
	if len(pk.TopicName) >= 4 && strings.EqualFold(pk.TopicName[:4], "$sys") {
		pk.TopicName = sysAlias + pk.TopicName[4:]
	}
	return pk, nil
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

// OnPublish restores $sys topics, applies the publish ACL and records the
// message. A denied publish is acknowledged (QoS 1) and dropped.
func (k *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	h := k.h
	if strings.HasPrefix(pk.TopicName, sysAlias) {
		pk.TopicName = "$sys" + strings.TrimPrefix(pk.TopicName, sysAlias)
	}
	dev, ok := k.deviceOf(cl)
	rec := newRecord(h.now(), Up, pk.TopicName, pk.FixedHeader.Qos, pk.Payload)
	if !ok || !h.allowed(dev, pk.TopicName, true) {
		reason := "topic outside the device's ACL"
		if len(pk.TopicName) > MaxTopicLen {
			reason = "topic longer than 128 characters"
		}
		h.tracker.record(cl.ID, withDenied(rec))
		h.log.Warn("publish denied", "client", cl.ID, "topic", pk.TopicName, "reason", reason)
		return pk, packets.CodeSuccessIgnore
	}
	pk.FixedHeader.Retain = false // the hub keeps no retained messages
	h.tracker.record(cl.ID, rec)
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
