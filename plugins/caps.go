package plugins

import (
	"context"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// The capabilities a plugin advertised are offered as a chain of small
// values reached through Unwrap, one per capability, so that driver.Lookup
// finds exactly the advertised ones and reports ErrNotSupported for the rest.

type versionCap struct {
	v    string
	next any
}

func (c versionCap) Version() string { return c.v }
func (c versionCap) Unwrap() any     { return c.next }

type maxPayloadCap struct {
	n    int
	next any
}

func (c maxPayloadCap) MaxPayload() int { return c.n }
func (c maxPayloadCap) Unwrap() any     { return c.next }

type signalCap struct {
	c    *conn
	next any
}

func (c signalCap) Signal(ctx context.Context) (driver.Signal, error) { return c.c.signal(ctx) }
func (c signalCap) Unwrap() any                                       { return c.next }

type sleepCap struct {
	c    *conn
	next any
}

func (c sleepCap) Sleep(ctx context.Context, d time.Duration) error { return c.c.sleep(ctx, d) }
func (c sleepCap) Unwrap() any                                      { return c.next }

var (
	_ driver.Versioner      = versionCap{}
	_ driver.MaxPayloader   = maxPayloadCap{}
	_ driver.SignalReporter = signalCap{}
	_ driver.Sleeper        = sleepCap{}
)

// driverCaps is the chain of a remote driver: its version and the maximum
// payload it declared.
func driverCaps(hasVersion bool, version string, maxPayload int64) any {
	var chain any
	if maxPayload > 0 {
		chain = maxPayloadCap{n: int(maxPayload), next: chain}
	}
	if hasVersion {
		chain = versionCap{v: version, next: chain}
	}
	return chain
}

// connCaps is the chain of a remote conn: what its Conn in the plugin has.
func connCaps(c *conn, maxPayload int64, signal, sleeper bool) any {
	var chain any
	if sleeper {
		chain = sleepCap{c: c, next: chain}
	}
	if signal {
		chain = signalCap{c: c, next: chain}
	}
	if maxPayload > 0 {
		chain = maxPayloadCap{n: int(maxPayload), next: chain}
	}
	return chain
}
