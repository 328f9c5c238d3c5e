package hubsim

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// GatewaySignature is the bind signature of PROTOCOL.md §2.5:
// base64(HMAC-SHA1(key, "{pid}{dn};{random};{timestamp}")), the raw digest
// encoded. key is the sub-device secret text as is (key devices) or the
// lowercase hex MD5 of its certificate file (cert devices).
func GatewaySignature(key, pid, dn string, random, timestamp int64) string {
	mac := hmac.New(sha1.New, []byte(key))
	fmt.Fprintf(mac, "%s%s;%d;%d", pid, dn, random, timestamp)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// verifyBind checks a bind entry against the sub-device's credentials.
func verifyBind(dev Device, d gatewayDevice) (int, string) {
	if d.SignMethod != "" && !strings.EqualFold(d.SignMethod, "hmacsha1") {
		return GatewayInvalid, fmt.Sprintf("signmethod %q: use hmacsha1", d.SignMethod)
	}
	if d.Signature == "" {
		return GatewayBadSignature, "no signature"
	}
	key := dev.Secret
	if dev.AuthMode == AuthCert {
		sum := md5.Sum([]byte(dev.CertPEM))
		key = hex.EncodeToString(sum[:])
	}
	want := GatewaySignature(key, dev.ProductID, dev.DeviceName, d.Random, d.Timestamp)
	if !hmac.Equal([]byte(want), []byte(d.Signature)) {
		what := "the sub-device's secret"
		if dev.AuthMode == AuthCert {
			what = "the MD5 of the sub-device's certificate"
		}
		return GatewayBadSignature, "signature does not verify with " + what
	}
	return GatewayOK, ""
}

// topicDevices returns the devices a topic may belong to under the ACL
// layout ({pid}/{dn}/..., $a/b/{pid}/{dn}..., $a/b/c/{pid}/{dn}...).
func topicDevices(topic string) []DeviceRef {
	parts := strings.SplitN(topic, "/", 6)
	var out []DeviceRef
	for _, at := range []int{0, 2, 3} {
		if at+1 < len(parts) && parts[at] != "" && parts[at+1] != "" {
			out = append(out, DeviceRef{ProductID: parts[at], DeviceName: parts[at+1]})
		}
	}
	return out
}

// actingFor returns the online sub-device of gw whose topic this is.
func (g *gatewayService) actingFor(gw DeviceRef, topic string) (DeviceRef, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, sub := range topicDevices(topic) {
		if g.online[sub] && g.bound[sub] == gw && Allowed(sub, topic) {
			return sub, true
		}
	}
	return DeviceRef{}, false
}

// allow is the gateway's ACL rule. A gateway may publish on, and receive
// from, the topics of its sub-devices that are online. It may also
// subscribe to the topics of a sub-device bound to it that is offline:
// after a reconnect the client restores its subscriptions before it can
// bring its sub-devices online again, and a subscription alone lets
// nothing through — deliveries are checked against the online state each
// time. Mochi asks the same question for a subscription filter and for a
// delivery, so a subscription is told apart by the marks gatewayHook sets
// while the client's SUBSCRIBE is processed.
func (g *gatewayService) allow(dev DeviceRef, topic string, write bool) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, sub := range topicDevices(topic) {
		if g.bound[sub] != dev || !Allowed(sub, topic) {
			continue
		}
		if g.online[sub] {
			return true
		}
		if !write {
			if _, subscribing := g.pending[dev.ClientID()][topic]; subscribing {
				return true
			}
		}
	}
	return false
}

func (k *gatewayHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if dev, ok := k.device(cl); ok {
		k.g.offlineAll(dev)
	}
}

func (k *gatewayHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	g := k.g
	g.mu.Lock()
	delete(g.pending, cl.ID)
	g.mu.Unlock()
	// The hub's own hook ran first and forgot cl if it was the current
	// session; a session taken over by a newer one leaves that one alone.
	g.h.mu.RLock()
	cur := g.h.active[cl.ID]
	g.h.mu.RUnlock()
	if cur != nil && cur != cl {
		return
	}
	if dev, ok := k.device(cl); ok {
		g.offlineAll(dev)
	}
}

func (k *gatewayHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline {
		return pk
	}
	g := k.g
	g.mu.Lock()
	marks := map[string]struct{}{}
	for _, f := range pk.Filters {
		marks[f.Filter] = struct{}{}
	}
	g.pending[cl.ID] = marks
	g.mu.Unlock()
	return pk
}

func (k *gatewayHook) OnSubscribed(cl *mqtt.Client, _ packets.Packet, _ []byte) {
	g := k.g
	g.mu.Lock()
	delete(g.pending, cl.ID)
	g.mu.Unlock()
}

// OnPublish runs after the hub's own hook, which drops (and ends the chain
// for) publishes the ACL denies: a publish seen here was allowed. One on
// an online sub-device's topic is recorded in that sub-device's message
// log too, before the publisher gets its acknowledgement.
func (k *gatewayHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	dev, ok := k.device(cl)
	if !ok {
		return pk, nil
	}
	if sub, acting := k.g.actingFor(dev, pk.TopicName); acting {
		k.g.h.tracker.record(sub.ClientID(), newRecord(k.g.h.now(), Up, pk.TopicName, pk.FixedHeader.Qos, pk.Payload))
	}
	return pk, nil
}

func (k *gatewayHook) device(cl *mqtt.Client) (DeviceRef, bool) {
	if cl.Net.Inline {
		return DeviceRef{}, false
	}
	d, ok := k.g.h.store.DeviceByClientID(cl.ID)
	if !ok {
		return DeviceRef{}, false
	}
	return DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}, true
}
