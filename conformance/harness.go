package conformance

import (
	"context"

	"github.com/iotd/iotd/core/driver"
)

// Version is the version of the suite, written into every certificate.
// Bump it when a case is added, removed or made stricter.
const Version = "0.2.0"

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

	// TimeScale multiplies the bound the suite puts on each blocking step
	// (5 s by default) for slow links, such as a modem on a serial line.
	// Zero means 1. It is written into the report.
	TimeScale float64

	// Lifecycle, when set, says the driver lives in another process (a
	// plugin) and lets the suite kill it; the P cases run. Nil skips them.
	Lifecycle Lifecycle

	// Modem, when set, says the driver talks to an AT modem that the
	// suite can disturb; the M cases run. Nil skips them.
	Modem Modem
}

// Lifecycle is the hook into a driver that runs in its own process. The
// plugin host implements it (on *plugins.Plugin).
type Lifecycle interface {
	// Kill ends the driver's process abruptly (SIGKILL), as a crash would,
	// and returns once the process is gone. It does not wait for a
	// restart.
	Kill() error

	// Restarted returns nil once the driver runs again after a Kill (the
	// host relaunched it) and Driver.Open and Dial work again, or ctx's
	// error when ctx ends first. It returns at once when the driver runs.
	Restarted(ctx context.Context) error
}

// Modem is the hook into the modem under an AT driver (a simulated modem:
// atsim). Its methods act on the modem, not on the driver, and return at
// once; the driver sees their effect on its serial line.
type Modem interface {
	// Reboot restarts the modem as a power cycle would: its open sockets
	// are gone and it prints its boot banner and URCs (RDY) again.
	Reboot() error

	// Garbage writes n bytes of line noise (non-protocol bytes, no
	// complete response line) to the driver's serial line.
	Garbage(n int) error

	// Fragment makes the modem, while on, write its output to the serial
	// line in small pieces (1–8 bytes) with short pauses between them.
	Fragment(on bool)
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
