// Package rrpc answers the hub's revert RPC (PROTOCOL.md §2.7): the cloud
// publishes a request on `$rrpc/rxd/{pid}/{dn}/{processId}` and waits for the
// device's reply on `$rrpc/txd/{pid}/{dn}/{processId}`, same process id.
//
// Each request goes to the configured hook command (its stdout, verbatim, is
// the reply; see package hook) and to every local subscriber ([RRPC.Subscribe],
// which the daemon streams to local API clients, who answer with
// [RRPC.Reply]). The first reply for a process id is published; any later
// one, or one for a process id that expired or never arrived, is refused
// with [ErrUnknownProcess]. Requests are tracked by process id, so any
// number may be in flight and answered in any order — unlike the C SDK,
// which keeps only the last process id (PROTOCOL.md §8.3 item 12).
//
// The hook gets the request payload on stdin and IOTD_FEATURE=rrpc,
// IOTD_TOPIC, IOTD_PROCESS_ID, IOTD_PRODUCT_ID, IOTD_DEVICE_NAME and
// IOTD_DEADLINE (RFC 3339, when the request is forgotten) in its
// environment. Its run is bounded by both its own timeout and the deadline.
//
// A request whose hook fails or times out gets no reply (the cloud caller
// times out, as with a device that does not answer) unless a local
// subscriber answers it; the failure is logged and counted. A request topic
// without a usable process id is logged with the reason, counted as
// malformed and ignored.
//
// Like every feature it talks to the cloud only through the bus.
package rrpc
