// Package peer holds the reference peers the conformance suite starts on
// loopback: a TCP echo server driven by a one-line control command
// ([Stream]), its TLS variants with good and deliberately bad certificates
// ([NewTLSSet]), a UDP echo ([UDPEcho]), a deterministic fault-injecting
// UDP relay ([Relay]: loss, duplication, reordering, latency) and a
// deterministic fragmenting TCP relay ([StreamRelay]: the stream cut into
// small pieces with pauses).
//
// # Stream control protocol
//
// The first line a client sends on a new connection selects the peer's
// behaviour for that connection; everything after the line is payload.
// Commands are case-sensitive ASCII words, with an optional decimal
// argument, ended by "\n":
//
//	ECHO          echo every byte until the client closes, then close (FIN)
//	FIN           close at once with an orderly close (FIN / close_notify)
//	RST           close at once with an abortive close (TCP RST, linger 0)
//	DELAY n       wait n milliseconds (at most 60000), then behave as ECHO
//	CHARGEN n     send n bytes of the pattern byte(i % 251), then close (FIN)
//	DISCARD       read and drop everything until the client closes
//	HOLD          read nothing and hold the connection open until the peer
//	              closes (back-pressure for write deadlines)
//
// An unknown command closes the connection with RST.
package peer
