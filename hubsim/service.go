package hubsim

import (
	"context"
	"time"
)

// Service is one cloud-side feature of the hub: the $sys time service now;
// shadow, OTA, gateway, RRPC, broadcast, log upload, dynamic registration and
// CoAP later. The Hub starts every service once, in order, before it accepts
// connections.
//
// Start subscribes the service to device topics with [Hub.Handle], mounts
// admin routes on [Hub.Admin], adds ACL rules with [Hub.AllowACL] and starts
// background work with [Hub.Go]. It must not block. ctx ends when the hub
// closes; the hub waits for goroutines started with Hub.Go, so a service
// needs no Stop method.
type Service interface {
	// Name is a short lowercase name used in logs ("time", "shadow").
	Name() string
	// Start wires the service into h. An error aborts hubsim.Start.
	Start(ctx context.Context, h *Hub) error
}

// Message is a publish a device made, as delivered to a [Handler].
type Message struct {
	// Device is the authenticated publisher (for MQTT, from its client id).
	Device DeviceRef
	Topic  string
	// Payload must not be retained after the handler returns; copy it.
	Payload []byte
	QoS     byte
	// Received is the hub clock when the message arrived.
	Received time.Time
}

// Handler receives device publishes matching the filter it was registered
// with. It runs on the publishing connection's goroutine, after the ACL
// allowed the publish and after the message was forwarded to subscribers;
// it must return quickly (use Hub.Go for slow work) and may call
// Hub.Publish.
type Handler func(m Message)

// service returns h's running service of type T, or the zero T when h runs
// none or is closing. A service's own state lives on the service value the
// hub holds, so two hubs in one process share nothing.
func service[T Service](h *Hub) T {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range h.services {
		if t, ok := s.(T); ok {
			return t
		}
	}
	var zero T
	return zero
}

type route struct {
	filter  string
	service string
	handler Handler
}

// Handle registers handler for device publishes whose topic matches filter
// (an MQTT filter; + and # allowed, e.g. "$sys/operation/+/+").
// service names the owner in logs.
func (h *Hub) Handle(service, filter string, handler Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.routes = append(h.routes, route{filter: filter, service: service, handler: handler})
}

// AllowACL adds an ACL rule that grants devices extra topics.
func (h *Hub) AllowACL(rule ACLRule) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.aclRules = append(h.aclRules, rule)
}

// AddPresence adds a way for a device to be reachable without a session
// of its own: a gateway's sub-device that is online through it.
func (h *Hub) AddPresence(online func(DeviceRef) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.presence = append(h.presence, online)
}

// Reachable reports whether messages to dev can arrive now: it is connected
// itself, or online through a gateway.
func (h *Hub) Reachable(dev DeviceRef) bool {
	if h.tracker.status(dev.ClientID()).Connected {
		return true
	}
	h.mu.RLock()
	presence := h.presence
	h.mu.RUnlock()
	for _, online := range presence {
		if online(dev) {
			return true
		}
	}
	return false
}

// Go runs f on a goroutine the hub waits for at Close; f must return when
// ctx ends.
func (h *Hub) Go(f func(ctx context.Context)) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		f(h.ctx)
	}()
}

// allowed applies the base ACL and the services' rules.
func (h *Hub) allowed(dev DeviceRef, topic string, write bool) bool {
	if len(topic) > MaxTopicLen {
		return false
	}
	if Allowed(dev, topic) {
		return true
	}
	h.mu.RLock()
	rules := h.aclRules
	h.mu.RUnlock()
	for _, r := range rules {
		if r(dev, topic, write) {
			return true
		}
	}
	return false
}

// dispatch hands a device publish to every matching route.
func (h *Hub) dispatch(m Message) {
	h.mu.RLock()
	routes := h.routes
	h.mu.RUnlock()
	for _, r := range routes {
		if Match(r.filter, m.Topic) {
			r.handler(m)
		}
	}
}

// Ingest feeds a device publish that arrived over another transport (CoAP)
// through the same path as MQTT ones: ACL, message log, subscribers and
// handlers. It returns false when the ACL denied the topic.
func (h *Hub) Ingest(m Message) bool {
	if !h.allowed(m.Device, m.Topic, true) {
		const reason = "topic outside the device's ACL"
		h.tracker.record(m.Device.ClientID(), withDenied(newRecord(m.Received, Up, m.Topic, m.QoS, m.Payload), reason))
		h.log.Warn("publish denied", "device", m.Device.String(), "topic", m.Topic, "reason", reason)
		return false
	}
	h.tracker.record(m.Device.ClientID(), newRecord(m.Received, Up, m.Topic, m.QoS, m.Payload))
	h.logPublish("publish", m.Device, m.Topic, m.QoS, m.Payload)
	if err := h.broker.Publish(m.Topic, m.Payload, false, m.QoS); err != nil {
		h.log.Warn("forward publish", "device", m.Device.String(), "topic", m.Topic, "error", err)
	}
	h.dispatch(m)
	return true
}

func withDenied(r Record, reason string) Record {
	r.Denied, r.Reason = true, reason
	return r
}
