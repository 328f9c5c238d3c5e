package modem

import (
	"time"

	"github.com/iotd/iotd/core/driver"
)

// Test hooks for the external tests, which need the dialects (and so
// cannot be in this package: the dialects import it).

// NewTestSocket returns an unbound socket of m, as Dial makes before Open.
func NewTestSocket(m *Modem, t driver.Transport, address string) *Socket {
	return newSock(m, t, address, m.generation())
}

// Buffered is how many received bytes s holds, not yet read.
func Buffered(s *Socket) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.buf)
	for _, d := range s.dgrams {
		n += len(d)
	}
	return n
}

// SetStatusMinAge sets how often the status may be refreshed, for a test;
// it returns the function that restores it.
func SetStatusMinAge(d time.Duration) (restore func()) {
	old := statusMinAge.Swap(int64(d))
	return func() { statusMinAge.Store(old) }
}
