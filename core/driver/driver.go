// Package driver is the contract between iotd and a transport driver: what a
// vendor implements so that iotd can open stream and datagram connections
// through its hardware or network stack.
//
// It depends on the standard library only, so a vendor imports this package
// (and, for an out-of-tree binary, plugins/sdk) and nothing else of iotd.
//
// # Lifecycle
//
// A driver passes through three separate phases, each of which can be listed
// and reported on its own ("iotd drivers"):
//
//  1. Construct: the driver value is created, usually in an init function that
//     registers it. Construction does no I/O and reads no environment.
//  2. Probe: [Driver.Probe] checks whether the driver can work on this host.
//  3. Open and dial: [Driver.Open] parses a configuration once, without I/O,
//     and returns a [Dialer]; [Dialer.Dial] opens one connection.
//
// # Concurrency
//
// Name, Transports and Probe may be called from any goroutine. A Dialer may be
// used by several goroutines at once. A [Conn] follows the net.Conn rules: one
// reader and one writer may run concurrently, and Close, SetDeadline,
// SetReadDeadline and SetWriteDeadline may be called at any time from any
// goroutine. A Conn with no deadlines of its own can keep them with
// package core/driver/deadline, standard library only like this one.
//
// # Errors
//
// Drivers return the sentinels of this package (wrapped with %w alongside the
// underlying cause, so both stay visible) for the conditions the framework
// branches on, and plain errors for everything else. See errors.go for who may
// return which sentinel and what the framework does with it. Retrying belongs
// to the framework, never to a driver: a failed Dial returns at once.
package driver

import (
	"context"
	"net"
)

// Transport is a kind of connection a driver can open.
type Transport string

const (
	// Stream is a reliable, ordered byte stream (TCP, TLS over TCP, a modem's
	// TCP socket). Message boundaries are not preserved.
	Stream Transport = "stream"
	// Datagram is an unreliable message transport (UDP, DTLS, a modem's UDP
	// socket). Each Write sends one datagram and each Read returns one.
	Datagram Transport = "datagram"
)

// Driver is a named source of connections. Implementations must be safe for
// concurrent use.
type Driver interface {
	// Name returns the driver's registry name: lowercase, dot-namespaced
	// ("tcp", "tls", "at.quectel"). It is constant for the driver's lifetime.
	Name() string

	// Transports lists the transports Dial supports. The list is constant
	// for the driver's lifetime; it is how the framework and the conformance
	// suite learn what to expect, instead of guessing from failures.
	Transports() []Transport

	// Probe reports whether the driver can work on this host now. It may do
	// I/O (list serial ports, query a modem) and must honour ctx.
	//
	// nil means usable. An error wrapping [ErrSkip] means the driver does not
	// apply here (no hardware of its kind, wrong OS) and is not a failure.
	// Any other error means the driver should apply but is broken; its text
	// is shown to the user and should say how to fix it.
	Probe(ctx context.Context) error

	// Open parses config, a JSON object whose schema the driver documents,
	// and returns a Dialer. It does no I/O. An empty or nil config selects
	// the driver's defaults. Unknown keys must be rejected with an error that
	// names the key, so that a typo in a user's configuration is never
	// silently ignored. The driver does not keep config after Open returns.
	Open(config []byte) (Dialer, error)
}

// Dialer opens connections with one parsed configuration.
type Dialer interface {
	// Dial opens one connection of the given transport to address, in the
	// "host:port" form of net.Dial (host may be a name or an IP literal).
	//
	// ctx bounds the dial only (name lookup, handshake); the returned Conn
	// does not keep it, so cancelling ctx after Dial returns has no effect
	// on the connection.
	//
	// Dial returns an error wrapping [ErrNotSupported] for a transport that
	// is not in the driver's Transports, [ErrRefused] when the peer actively
	// refused, [ErrUnreachable] when the host could not be resolved or
	// reached, and ctx.Err() (possibly wrapped) when ctx ended first. It makes
	// one attempt: backoff and retry are the framework's job.
	Dial(ctx context.Context, transport Transport, address string) (Conn, error)
}

// Conn is one open connection. It is a net.Conn with these additional rules,
// which the conformance suite checks:
//
//   - Deadlines: a Read or Write that passes its deadline returns an error
//     for which errors.Is(err, os.ErrDeadlineExceeded) holds and that
//     implements net.Error with Timeout() true. A deadline in the past makes
//     pending and future calls fail at once; a zero time means no deadline.
//     After a timeout the Conn stays usable once the deadline is extended.
//   - Close: Close unblocks every pending Read and Write, which return an
//     error wrapping net.ErrClosed; so does every later call. Close is safe
//     to call more than once; later calls return an error wrapping
//     net.ErrClosed or nil.
//   - End of stream (Stream): an orderly close by the peer (TCP FIN, TLS
//     close_notify) makes Read return io.EOF after all data has been read.
//     An abortive close (TCP RST, a modem reporting the socket dropped, a
//     truncated TLS record) returns an error wrapping [ErrReset] instead, so
//     that a caller can tell a complete transfer from a cut one.
//   - Datagrams (Datagram): each Write sends exactly one datagram holding all
//     of p, or fails; a p larger than the transport allows returns an error
//     wrapping [ErrTooLarge] and sends nothing. Each Read returns exactly one
//     datagram; when p is shorter than the datagram, Read fills p, discards
//     the rest and returns an error wrapping [ErrShortBuffer] with n = len(p).
//     Datagram conns never return io.EOF.
//   - A Conn that can no longer work for a reason outside the peer's control
//     (modem rebooted, plugin process gone) returns an error wrapping
//     [ErrBadConn] from every call.
//   - LocalAddr and RemoteAddr never return nil. A driver that does not know
//     an address returns an [Addr] describing what it does know.
type Conn interface {
	net.Conn
}

// Addr is a net.Addr for drivers whose connections have no OS-level address,
// such as a socket inside a modem.
type Addr struct {
	// Net is the address's network name, e.g. "at.quectel/tcp".
	Net string
	// Address is the best description the driver has, e.g. "example.com:8883".
	Address string
}

// Network returns a.Net.
func (a Addr) Network() string { return a.Net }

// String returns a.Address.
func (a Addr) String() string { return a.Address }

var _ net.Addr = Addr{}
