// Package timesync keeps iotd's clock in step with the hub's, through the
// `$sys/operation` time service (PROTOCOL.md §2.4).
//
// It publishes `{"type": "get", "resource": ["time"]}` on
// `$sys/operation/{pid}/{dn}`, reads the reply on
// `$sys/operation/result/{pid}/{dn}`, and computes the offset between the
// hub's clock and the local one. With the reply's ntptime1 (server receive)
// and ntptime2 (server send) it uses the NTP estimate, which is server time
// plus half the round trip with the server's own processing time removed;
// with only `time` (older hubs) it uses time + RTT/2. It syncs at start,
// after every reconnect and then periodically, sets the daemon's
// [core.Clock], and publishes a [bus.ClockOffset] on [bus.TopicClockOffset].
//
// Like every feature it talks to the cloud only through the bus.
package timesync
