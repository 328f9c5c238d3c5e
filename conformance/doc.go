// Package conformance certifies a transport driver against the core/driver
// contract. One table of cases has two front ends: [TestDriver], which a
// driver's own test calls in one line and which runs each case as a
// subtest, and [Run], which returns a [Report] for binaries (a CLI, a
// certification lab) to write as a readable summary, JUnit XML or a JSON
// certificate.
//
// The suite starts its own reference peers on loopback (package
// conformance/peer): a TCP echo server with control commands, TLS variants
// with good, expired, wrong-name and untrusted certificates, a UDP echo and
// a fault-injecting UDP relay. The [Harness] supplies the driver, the JSON
// configuration that points it at those peers, and its declared
// [Features]. Cases apply according to the driver's Transports and the
// declared features; a case that does not apply is skipped with its reason
// and never counts as a failure.
//
// Each case has an ID (G general, S stream, T TLS security, D datagram) and
// a level: certification requires every applicable MUST case; a failed
// SHOULD case is a warning in the report (TestDriver fails on both, since
// an in-tree driver is expected to meet both).
package conformance
