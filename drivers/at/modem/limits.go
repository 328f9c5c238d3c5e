package modem

import "maps"

// ConformanceLimits returns the conformance cases a modem of the dialect
// cannot pass, each with the reason: limits of the modules' AT socket
// interfaces, not bugs of the driver — the ones every AT modem shares and
// the dialect's Limits.Conformance. A harness passes them as
// KnownFailures, so that they still run and are reported.
func ConformanceLimits(dialect string) map[string]string {
	limits := map[string]string{
		"S05": "AT modems report a peer's RST and FIN with the same closed URC (+QIURC: \"closed\", n,CLOSED, +IPCLOSE: n,1, +UUSOCL), so a reset reads as io.EOF",
	}
	if d, err := newDialect(dialect); err == nil {
		maps.Copy(limits, d.Traits().Limits.Conformance)
	}
	return limits
}
