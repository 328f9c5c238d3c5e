package at

import "maps"

// ConformanceLimits returns the conformance cases a modem of the dialect
// cannot pass, each with the reason: limits of the modules' AT socket
// interfaces, not bugs of the driver. A harness passes them as
// KnownFailures, so that they still run and are reported.
func ConformanceLimits(dialect string) map[string]string {
	limits := map[string]string{
		"S05": "AT modems report a peer's RST and FIN with the same closed URC (+QIURC: \"closed\", n,CLOSED, +IPCLOSE: n,1, +UUSOCL), so a reset reads as io.EOF",
	}
	if dialect == UBlox {
		maps.Copy(limits, map[string]string{
			"D01": "u-blox sends at most 1024 bytes in one datagram (AT+USOWR/USOST), the suite sends 1200",
			"S03": "1 MiB in 1024-byte writes, each after the 50 ms the module wants after its \"@\" prompt, takes about a minute: longer than the suite's bound",
			"S15": "nettest's BasicIO moves 1 MiB: as S03",
		})
	}
	return limits
}
