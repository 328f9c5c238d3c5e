// Package core is iotd's runtime: the driver [Registry], the [Link] that keeps
// a connection up through a registered driver, the device identity
// (device_info.json, compatible with the Tencent C SDK), credentials and
// signing, and error classes with the C SDK's numeric codes.
//
// Concepts, in the order a connection is made:
//
//	driver.Driver ── Open(config) ──► driver.Dialer ── Dial ──► driver.Conn
//	      ▲                                ▲
//	  Registry (by name)                  Link (reconnect, backoff, state)
//
// Drivers implement core/driver; everything a fleet cares about (retry,
// backoff, error classification, capability lookup) lives here, once. The
// Link reports its states (package core/linkstate) to the callback in
// [LinkOptions]; core imports no bus, so a program that only dials links no
// message bus.
package core
