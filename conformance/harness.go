package conformance

import (
	"context"

	"github.com/iotd/iotd/core/driver"
)

// Version is the version of the suite, written into every certificate.
// Bump it when a case is added, removed or made stricter.
const Version = "0.1.0"

// Harness is what a driver's test hands the suite.
type Harness struct {
	// Driver is the driver under test.
	Driver driver.Driver

	// Config returns the driver's JSON configuration for dialling the
	// suite's peers (nil selects the driver's defaults). It is called once
	// per run, after the peers have started; env says where the suite put
	// what the configuration may need to name.
	Config func(env Env) ([]byte, error)

	// Features are the driver's declared features; they decide which cases
	// apply.
	Features Features

	// DatagramPeer, when set, starts the datagram echo the suite uses
	// instead of its plain UDP echo: for drivers whose datagrams need a
	// peer that speaks their security layer (DTLS). It returns the peer's
	// "host:port" and a function that stops it. The peer must send every
	// datagram back to its sender unchanged.
	DatagramPeer func(ctx context.Context) (addr string, stop func(), err error)

	// KnownFailures maps case IDs to the reason (an issue, a bug) the
	// driver is known to fail them. Such cases still run and still count
	// in the report (a failed MUST still prevents certification), but under
	// TestDriver their failure skips the subtest instead of failing it, so
	// that a known driver bug does not break the build. A listed case that
	// passes is logged, as a reminder to remove it.
	KnownFailures map[string]string
}

// Env is what the suite tells Harness.Config.
type Env struct {
	// CAFile is a PEM file holding the CA that signs the certificate of the
	// suite's good TLS peer (for "localhost" and 127.0.0.1). It is set when
	// Features.TLS is declared.
	CAFile string
}

// Features are what a driver declares about itself beyond its Transports.
type Features struct {
	// TLS declares that the stream transport is TLS and verifies the
	// server's certificate against Env.CAFile: the suite's stream peers then
	// speak TLS and the TLS security cases (T*) run.
	TLS bool

	// Capabilities are free-form capability names the driver declares
	// ("tls", "psk", "max_payload"); they are written into the certificate.
	Capabilities []string
}
