package conformance_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance"
	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

// simulated is the tcp driver with an in-process stand-in for the two
// hooks: Kill and Reboot cut every open conn (its calls then fail with
// ErrBadConn, or io.EOF when eofOnCrash is the defect), Fragment routes
// new conns through the suite's fragmenting relay.
type simulated struct {
	driver.Driver
	eofOnCrash bool

	mu       sync.Mutex
	dead     bool
	fragment bool
	conns    map[*simConn]struct{}
	kills    int
}

func newSimulated(eofOnCrash bool) *simulated {
	return &simulated{Driver: posix.NewTCP(), eofOnCrash: eofOnCrash, conns: map[*simConn]struct{}{}}
}

func (s *simulated) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead = true
	s.kills++
	for c := range s.conns {
		c.dead.Store(true)
		_ = c.Conn.Close()
	}
	return nil
}

func (s *simulated) Restarted(context.Context) error {
	s.mu.Lock()
	s.dead = false
	s.mu.Unlock()
	return nil
}

func (s *simulated) Reboot() error {
	if err := s.Kill(); err != nil {
		return err
	}
	return s.Restarted(context.Background())
}

func (s *simulated) Garbage(int) error { return nil }

func (s *simulated) Fragment(on bool) {
	s.mu.Lock()
	s.fragment = on
	s.mu.Unlock()
}

func (s *simulated) Open(config []byte) (driver.Dialer, error) {
	d, err := s.Driver.Open(config)
	if err != nil {
		return nil, err
	}
	return simDialer{d, s}, nil
}

type simDialer struct {
	driver.Dialer
	s *simulated
}

func (d simDialer) Dial(ctx context.Context, t driver.Transport, addr string) (driver.Conn, error) {
	d.s.mu.Lock()
	dead, fragment := d.s.dead, d.s.fragment
	d.s.mu.Unlock()
	if dead {
		return nil, fmt.Errorf("%w: the simulated process is gone", driver.ErrBadConn)
	}
	var relay *peer.StreamRelay
	if fragment {
		var err error
		if relay, err = peer.NewStreamRelay(addr, peer.Fragmentation{MaxChunk: 8, Seed: 1}); err != nil {
			return nil, err
		}
		addr = relay.Addr()
	}
	c, err := d.Dialer.Dial(ctx, t, addr)
	if err != nil {
		if relay != nil {
			_ = relay.Close()
		}
		return nil, err
	}
	sc := &simConn{Conn: c, s: d.s, relay: relay}
	d.s.mu.Lock()
	d.s.conns[sc] = struct{}{}
	d.s.mu.Unlock()
	return sc, nil
}

type simConn struct {
	driver.Conn
	s     *simulated
	relay *peer.StreamRelay
	dead  atomic.Bool
}

func (c *simConn) gone() error {
	if c.s.eofOnCrash {
		return io.EOF
	}
	return fmt.Errorf("%w: the simulated process is gone", driver.ErrBadConn)
}

func (c *simConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.dead.Load() {
		return 0, c.gone()
	}
	return n, err
}

func (c *simConn) Write(p []byte) (int, error) {
	if c.dead.Load() {
		return 0, c.gone()
	}
	return c.Conn.Write(p)
}

func (c *simConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	err := c.Conn.Close()
	if c.relay != nil {
		_ = c.relay.Close()
	}
	if c.dead.Load() {
		return nil
	}
	return err
}

// The lifecycle and modem cases pass against a driver that fails its
// conns with ErrBadConn and recovers, and catch one that reports io.EOF.
func TestHookCases(t *testing.T) {
	hookCases := []string{"P01", "P02", "P03", "M01", "M02", "M03", "M04"}
	tests := []struct {
		name       string
		eofOnCrash bool
		failed     []string
	}{
		{"ErrBadConn and recovery", false, nil},
		{"io.EOF on a crash", true, []string{"P01", "M01"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := newSimulated(tt.eofOnCrash)
			rep, err := conformance.Run(t.Context(), conformance.Harness{Driver: sim, Lifecycle: sim, Modem: sim},
				conformance.Select(nil))
			require.NoError(t, err)
			for _, id := range hookCases {
				want := conformance.Passed
				if slices.Contains(tt.failed, id) {
					want = conformance.Failed
				}
				assert.Equal(t, want, resultOf(t, rep, id).Status, "%s\n%s", id, rep.Summary())
			}
			assert.Equal(t, tt.failed == nil, rep.Certified(), rep.Summary())
			sim.mu.Lock()
			defer sim.mu.Unlock()
			assert.Equal(t, 2, sim.kills, "P01 kills once, M01 reboots once")
			assert.Empty(t, sim.conns, "every conn the suite opened was closed")
		})
	}
}
