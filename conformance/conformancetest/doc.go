// Package conformancetest is the go test front end of the conformance
// suite: [TestDriver] runs every case of package conformance as a subtest,
// plus the cases that need a *testing.T (S15, golang.org/x/net/nettest).
// It imports package testing, so only tests import it; binaries use
// conformance.Run.
package conformancetest
