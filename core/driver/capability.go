package driver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Optional capabilities. A driver, Dialer or Conn may implement any of these
// interfaces; callers never type-assert for them directly but call [Lookup],
// which also sees through wrappers. When no layer implements a capability,
// the caller falls back to its default behaviour.

// MaxPayloader reports the largest payload a single Write may carry: the
// largest datagram for datagram conns, the largest chunk the driver sends in
// one operation for stream conns (a modem's send limit).
type MaxPayloader interface {
	MaxPayload() int
}

// Signal is a radio link's quality, as modems report it.
type Signal struct {
	// RSSI in dBm; 0 when unknown.
	RSSI int
	// Quality is a driver-defined 0..100 figure; -1 when unknown.
	Quality int
	// Technology names the access technology ("LTE", "GSM", "Wi-Fi"), or "".
	Technology string
}

// SignalReporter reports the quality of the radio link under a connection.
type SignalReporter interface {
	Signal(ctx context.Context) (Signal, error)
}

// Sleeper can put the link into a low-power state for d. A Conn may be
// unusable while asleep; Sleep returns when the link is awake again.
type Sleeper interface {
	Sleep(ctx context.Context, d time.Duration) error
}

// Versioner reports a driver's version, shown in "iotd drivers" and written
// into conformance certificates.
type Versioner interface {
	Version() string
}

// Wrapper is implemented by decorators (tracing conns, TLS layers, plugin
// proxies) so that [Lookup] can reach the value underneath.
type Wrapper interface {
	Unwrap() any
}

// Lookup finds capability T on v or on any value v wraps, and returns it. It
// follows, in order: Wrapper's Unwrap() any, an Unwrap() net.Conn method, and
// a NetConn() net.Conn method (as *tls.Conn has). When no layer implements T,
// Lookup returns an error wrapping [ErrNotSupported] that names T.
func Lookup[T any](v any) (T, error) {
	var zero T
	for depth := 0; v != nil && depth < 32; depth++ {
		if c, ok := v.(T); ok {
			return c, nil
		}
		switch w := v.(type) {
		case Wrapper:
			v = w.Unwrap()
		case interface{ Unwrap() net.Conn }:
			v = w.Unwrap()
		case interface{ NetConn() net.Conn }:
			v = w.NetConn()
		default:
			v = nil
		}
	}
	return zero, fmt.Errorf("%w: %T", ErrNotSupported, (*T)(nil))
}

// IsNotSupported reports whether err means an operation is not supported.
func IsNotSupported(err error) bool { return errors.Is(err, ErrNotSupported) }
