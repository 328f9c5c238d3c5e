package hubsim

import (
	"net"
	"sync"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// tcpListener is mochi's TCP listener whose connections the hub can wait
// for when it closes. mochi's listener starts a goroutine per accepted
// connection that calls into the broker (EstablishConnection) and returns
// only when the connection ends; the broker's Close, meanwhile, writes
// state that a connection's establishment reads, so a connection accepted
// just as the hub closed raced with it (the race detector caught it in a
// fresh-clone run). Close here closes the listener and every connection it
// handed over, then waits for their goroutines before the broker closes;
// a connection accepted after that is closed without reaching the broker.
type tcpListener struct {
	*listeners.TCP

	serving sync.RWMutex // read-held while a connection is with the broker

	mu      sync.Mutex
	closing bool
	conns   map[net.Conn]struct{}
}

func newTCPListener(cfg listeners.Config) *tcpListener {
	return &tcpListener{TCP: listeners.NewTCP(cfg), conns: map[net.Conn]struct{}{}}
}

// Serve accepts connections and hands each to establish (listeners.Listener).
func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	l.TCP.Serve(func(id string, c net.Conn) error {
		l.serving.RLock()
		defer l.serving.RUnlock()
		l.mu.Lock()
		if l.closing {
			l.mu.Unlock()
			return c.Close()
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			delete(l.conns, c)
			l.mu.Unlock()
		}()
		return establish(id, c)
	})
}

// Close closes the listener, its clients (disconnect) and every connection
// still being established, and waits until none is with the broker.
func (l *tcpListener) Close(disconnect listeners.CloseFn) {
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	l.TCP.Close(disconnect)
	l.mu.Lock()
	for c := range l.conns {
		_ = c.Close()
	}
	l.mu.Unlock()
	l.serving.Lock()
	l.serving.Unlock() //nolint:staticcheck // an empty critical section: waiting for the readers is the point
}
