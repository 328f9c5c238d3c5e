package driver

import "errors"

// The sentinel errors of the contract. A driver returns them wrapped with %w,
// ideally next to the underlying cause (fmt.Errorf("%w: %w", ErrReset, err)),
// so that errors.Is works and the message still says what happened. Only the
// conditions listed with each sentinel may be reported with it: the framework
// acts on them, and a wrong sentinel makes it act wrongly.
var (
	// ErrNotSupported means the driver or connection does not offer the
	// requested operation or capability: a transport missing from
	// Transports, or an optional interface that no layer implements. It is
	// permanent for that driver: the framework does not retry.
	ErrNotSupported = errors.New("driver: not supported")

	// ErrSkip, returned from Probe only, means the driver does not apply on
	// this host (no such hardware, unsupported OS). It is reported as
	// "skipped", not as a failure.
	ErrSkip = errors.New("driver: skipped")

	// ErrBadConn means the connection, or the driver underneath it, is gone
	// for a reason that is not the peer's doing: a modem rebooted, a plugin
	// process exited, a serial port was unplugged. Every later call on that
	// Conn fails the same way. The framework discards the Conn and redials,
	// possibly after re-probing the driver.
	ErrBadConn = errors.New("driver: connection no longer usable")

	// ErrReset means the peer (or the network) aborted the connection: TCP
	// RST, a modem's "socket closed by remote" without an orderly close, a
	// truncated TLS stream. Data may have been lost. Contrast io.EOF, which
	// means an orderly close after which nothing was lost.
	ErrReset = errors.New("driver: connection reset")

	// ErrRefused, from Dial, means the peer answered and refused the
	// connection (TCP RST to SYN, ICMP port unreachable, a modem's connect
	// error naming refusal).
	ErrRefused = errors.New("driver: connection refused")

	// ErrUnreachable, from Dial, means the address could not be resolved or
	// no route to it exists, including "no network" on a modem that is not
	// registered.
	ErrUnreachable = errors.New("driver: host unreachable")

	// ErrTooLarge, from Write on a datagram Conn, means p exceeds the largest
	// datagram the transport can send. Nothing was sent.
	ErrTooLarge = errors.New("driver: datagram too large")

	// ErrShortBuffer, from Read on a datagram Conn, means the datagram was
	// longer than p; p holds its start and the rest was discarded.
	ErrShortBuffer = errors.New("driver: datagram truncated, buffer too short")

	// ErrHandshake, from Dial of a secure transport, means the security
	// handshake failed: the peer's certificate did not verify, the PSK was
	// rejected, no common cipher suite. Retrying with the same configuration
	// will fail the same way, so the framework reports it prominently.
	ErrHandshake = errors.New("driver: security handshake failed")
)
