package modem

import (
	"context"
	"log/slog"
)

// What a Dialect may use of its Modem, beside Do, Bind and the URC reports.

// Config returns the driver configuration the modem was opened with: the
// APN and its credentials, the Wi-Fi network, the timeouts. Dialects must
// not log the secrets in it.
func (m *Modem) Config() Config { return m.cfg }

// Log is the modem's logger, with its dialect and port attached.
func (m *Modem) Log() *slog.Logger { return m.log }

// Context ends when the modem closes. A dialect uses it for clean-up that
// must outlive the call's own context (freeing an id after a cancelled
// open).
func (m *Modem) Context() context.Context { return m.ctx }

// BearerLost reports that the data path went down (the network deactivated
// the context, Wi-Fi dropped): the open sockets fail with err, which
// should wrap driver.ErrBadConn, and the next Dial runs the bring-up
// again. URC handlers call it.
func (m *Modem) BearerLost(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.upGen = -1
	m.failAllLocked(err)
}
