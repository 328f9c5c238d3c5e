// Package mqtt is iotd's MQTT uplink: it keeps an MQTT 3.1.1 session with the
// hub over the connections a [core.Link] makes, and serves the bus protocol
// of package bus (uplink.publish, uplink.subscribe, uplink.unsubscribe,
// downlink:<filter>) so that features never touch MQTT.
//
// Each connection the Link makes gets a fresh paho.mqtt.golang client, with
// paho's own reconnect and retry turned off: reconnecting, with jittered
// backoff that never gives up, is the Link's job. Fresh credentials are
// fetched before every CONNECT, because the hub's username carries a
// per-connection id.
//
// Two paho behaviours are wrapped rather than inherited:
//
//   - paho reports success for a QoS 0 publish made while it reconnects and
//     then drops it. The uplink hands messages to paho only while a session
//     is up; otherwise they wait in a bounded queue (Config.QueueSize).
//   - paho does not resend QoS 1 publishes that were in flight when a clean
//     session dropped. The uplink keeps every message until paho confirms it
//     (written for QoS 0, PUBACKed for QoS 1) and puts unconfirmed ones back
//     in the queue, at their places, when the connection drops, so QoS 1 is
//     delivered at least once across reconnects.
//
// Outgoing messages keep the order they were accepted in, across
// reconnects too: the queue is kept sorted by acceptance, and a session
// sends only once the previous one's sender has put back the message it
// was handing to paho. Only a message resent after a lost PUBACK, or parked
// as a dead letter, falls out of that order. Incoming messages are handed
// to the bus in the order they arrive.
package mqtt
