// Package conformance certifies a transport driver against the core/driver
// contract. One table of cases ([Cases]) has two front ends: [Run], which
// returns a [Report] for binaries ("iotd conformance", a certification lab)
// to write as a readable summary, JUnit XML or a JSON certificate; and
// conformancetest.TestDriver, which a driver's own test calls in one line
// and which runs each case as a subtest. This package imports neither
// package testing nor testify, so a binary can link it; the cases check
// with their own small assertions on [C].
//
// The suite starts its own reference peers on loopback (package
// conformance/peer): a TCP echo server with control commands, TLS variants
// with good, expired, wrong-name and untrusted certificates, a UDP echo, a
// fault-injecting UDP relay and a fragmenting TCP relay. The [Harness]
// supplies the driver, the JSON configuration that points it at those
// peers, its declared [Features], and optional hooks: [Lifecycle] for a
// driver in a plugin process, [Modem] for an AT driver on a simulated
// modem. Cases apply according to the driver's Transports, the declared
// features and the hooks; a case that does not apply is skipped with its
// reason and never counts as a failure.
//
// Each case has an ID (G general, S stream, T TLS security, D datagram,
// M modem, P plugin lifecycle) and a level: certification requires every
// applicable MUST case, and a run that left cases out by selection is no
// certificate; a failed SHOULD case is a warning in the report
// (TestDriver fails on both, since an in-tree driver is expected to meet
// both). Every blocking step in a case is bounded (5 s, scaled by
// Harness.TimeScale), so a driver that hangs fails instead of stalling the
// run.
package conformance
