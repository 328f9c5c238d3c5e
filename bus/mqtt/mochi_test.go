package mqtt

import (
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
)

// closeMochi shuts a mochi server down without its own listener shutdown,
// which can deadlock (Clients.GetByListener takes the clients' read lock
// twice; a client leaving at that moment queues a writer between the two):
// the listener is closed first with a disconnect that does not use it, and
// the server's Close then finds it closed.
func closeMochi(srv *mochi.Server, l *listeners.TCP) {
	l.Close(func(string) {
		for _, cl := range srv.Clients.GetAll() {
			if !cl.Net.Inline && !cl.Closed() {
				_ = srv.DisconnectClient(cl, mpackets.ErrServerShuttingDown)
			}
		}
	})
	_ = srv.Close()
}
