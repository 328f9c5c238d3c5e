package hubsim

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gorilla "github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/iotd/iotd/drivers/websocket"
)

// wsSubprotocol is the subprotocol MQTT over WebSocket requires.
const wsSubprotocol = "mqtt"

// wsListener is a mochi listener serving MQTT over WebSocket, plain (ws)
// or inside TLS (wss), as strictly as a real server: the client must offer
// subprotocol "mqtt" (else HTTP 400), any path is accepted (the hub's is
// unknown: the C SDK sends "/", paho "/mqtt"), and a text message closes
// the connection. mochi's own WebSocket listener accepts any subprotocol
// and hides the TLS connection, which certificate authentication needs:
// here each connection is a websocket.Conn whose Unwrap reaches the
// *tls.Conn (see peerTLS).
type wsListener struct {
	id, addr string
	tls      *tls.Config // nil: plain ws
	ln       net.Listener
	srv      *http.Server
	log      *slog.Logger
	up       gorilla.Upgrader
	est      listeners.EstablishFn
	end      atomic.Bool

	// Upgraded connections are hijacked: http.Server.Close neither closes
	// them nor waits for their handlers. Close does both, so that no
	// handler is still handing a connection to the broker while the
	// broker shuts down.
	mu       sync.Mutex
	conns    map[*websocket.Conn]struct{}
	handlers sync.WaitGroup
}

func newWSListener(id, addr string, tc *tls.Config) *wsListener {
	return &wsListener{id: id, addr: addr, tls: tc, conns: map[*websocket.Conn]struct{}{}, up: gorilla.Upgrader{
		Subprotocols: []string{wsSubprotocol},
		// Devices send no Origin; a browser client of a lab may.
		CheckOrigin: func(*http.Request) bool { return true },
	}}
}

// Init opens the listen address, so that Address reports the port chosen
// for port 0 once the broker has added the listener.
func (l *wsListener) Init(log *slog.Logger) error {
	l.log = log
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	if l.tls != nil {
		ln = tls.NewListener(ln, l.tls)
	}
	l.ln = ln
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		// Failed TLS handshakes and the like, at debug level.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return nil
}

// Serve accepts connections until Close.
func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.est = establish
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !l.end.Load() {
		l.log.Error("websocket listener stopped", "listener", l.id, "error", err)
	}
}

func (l *wsListener) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !slices.Contains(gorilla.Subprotocols(r), wsSubprotocol) {
		l.log.Warn("websocket upgrade refused", "listener", l.id, "remote", r.RemoteAddr, "path", r.URL.Path,
			"subprotocols", r.Header.Values("Sec-WebSocket-Protocol"))
		http.Error(w, `MQTT over WebSocket needs subprotocol "mqtt" (Sec-WebSocket-Protocol: mqtt)`, http.StatusBadRequest)
		return
	}
	ws, err := l.up.Upgrade(w, r, nil) // answers a bad upgrade itself
	if err != nil {
		l.log.Warn("websocket upgrade refused", "listener", l.id, "remote", r.RemoteAddr, "error", err)
		return
	}
	conn := websocket.NewConn(ws)
	defer conn.Close()
	l.mu.Lock()
	if l.end.Load() {
		l.mu.Unlock()
		return // closing: the broker takes no more connections
	}
	l.conns[conn] = struct{}{}
	l.handlers.Add(1)
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.conns, conn)
		l.mu.Unlock()
		l.handlers.Done()
	}()
	// Returns when the MQTT connection ends.
	if err := l.est(l.id, conn); err != nil && !errors.Is(err, net.ErrClosed) {
		l.log.Debug("websocket connection ended", "listener", l.id, "remote", r.RemoteAddr, "error", err)
	}
}

// ID is the listener's id, which connections report as their listener.
func (l *wsListener) ID() string { return l.id }

// Address is the listen address, with the port chosen once initialised.
func (l *wsListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// Protocol is "wss" or "ws".
func (l *wsListener) Protocol() string {
	if l.tls != nil {
		return "wss"
	}
	return "ws"
}

// Close stops accepting and closes the connections through closeClients:
// upgraded connections are no longer the HTTP server's.
func (l *wsListener) Close(closeClients listeners.CloseFn) {
	if l.end.CompareAndSwap(false, true) && l.srv != nil {
		_ = l.srv.Close()
		_ = l.ln.Close() // in case Serve never ran
	}
	l.mu.Lock()
	for c := range l.conns {
		_ = c.Close()
	}
	l.mu.Unlock()
	closeClients(l.id)
	l.handlers.Wait()
}

var _ listeners.Listener = (*wsListener)(nil)
