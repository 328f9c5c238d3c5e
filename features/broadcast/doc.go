// Package broadcast receives the hub's broadcasts to every device of a
// product (PROTOCOL.md §2.8): opaque messages on `$broadcast/rxd/{pid}/{dn}`,
// subscribed with QoS 1, that need no reply.
//
// Each message goes to the configured hook command (see package hook; its
// stdout is ignored; it gets the payload on stdin and IOTD_FEATURE=broadcast,
// IOTD_TOPIC, IOTD_PRODUCT_ID and IOTD_DEVICE_NAME in its environment) and to every local subscriber ([Broadcast.Subscribe],
// which the daemon streams to local API clients). Hook runs happen on a
// bounded queue: when the hook falls behind, further messages skip it and
// are counted as dropped.
//
// Like every feature it talks to the cloud only through the bus.
package broadcast
