package conformance

import (
	"context"
	"net"
)

// Session is one started run: the suite's peers are up and the driver is
// open. [Run] is built on it; so is conformancetest.TestDriver, which adds
// the cases that need a *testing.T. A Session runs one case at a time.
type Session struct{ s *suite }

// Start starts the peers the harness's driver needs and opens the driver
// with the harness's configuration. Close stops the peers.
func Start(ctx context.Context, h Harness) (*Session, error) {
	s, err := newSuite(ctx, h)
	if err != nil {
		return nil, err
	}
	return &Session{s: s}, nil
}

// Applies returns "" when case k applies to the driver, else the reason it
// does not.
func (x *Session) Applies(k Case) string { return k.applies(x.s) }

// RunCase runs case k (not an External one) and returns its result.
func (x *Session) RunCase(ctx context.Context, k Case) CaseResult { return runCase(ctx, x.s, k) }

// Pipe dials the driver's stream transport to a fresh loopback listener
// and returns both ends (the server end speaks TLS when the harness
// declares it). stop closes both. It is the connection factory for
// golang.org/x/net/nettest.TestConn.
func (x *Session) Pipe() (c1, c2 net.Conn, stop func(), err error) { return x.s.pipe() }

// Close stops the peers and removes the session's temporary files.
func (x *Session) Close() { x.s.close() }
