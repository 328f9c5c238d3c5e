package websocket_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

// bridge is a carrier driver, "bridge", that lets the websocket driver
// reach the conformance suite's peers, which speak plain TCP. Its Dial
// connects to the target with the tcp driver, so that a refused or
// unresolvable target fails the dial as it should, and returns a TCP
// connection to a WebSocket gateway that relays between binary messages
// and the target: what a real WebSocket server in front of the target
// would do. The target's orderly close becomes a close frame (1000), its
// reset a reset of the gateway's connection.
type bridge struct {
	tcp driver.Dialer
	ln  net.Listener
	srv *http.Server
	wg  sync.WaitGroup

	mu      sync.Mutex
	targets map[string]driver.Conn // by the gateway connection's client address
	open    map[io.Closer]bool     // everything a handler holds, for close
}

func newBridge(t *testing.T) *bridge {
	t.Helper()
	tcp, err := posix.NewTCP().Open(nil)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &bridge{tcp: tcp, ln: ln, targets: map[string]driver.Conn{}, open: map[io.Closer]bool{}}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve), ReadHeaderTimeout: 10 * time.Second}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		_ = b.srv.Serve(ln)
	}()
	t.Cleanup(b.close)
	return b
}

func (b *bridge) Name() string                   { return "bridge" }
func (b *bridge) Transports() []driver.Transport { return []driver.Transport{driver.Stream} }
func (b *bridge) Probe(context.Context) error    { return nil }
func (b *bridge) Open([]byte) (driver.Dialer, error) {
	return b, nil
}

func (b *bridge) Dial(ctx context.Context, t driver.Transport, address string) (driver.Conn, error) {
	target, err := b.tcp.Dial(ctx, t, address)
	if err != nil {
		return nil, err
	}
	front, err := b.tcp.Dial(ctx, driver.Stream, b.ln.Addr().String())
	if err != nil {
		_ = target.Close()
		return nil, err
	}
	b.mu.Lock()
	b.targets[front.LocalAddr().String()] = target
	b.mu.Unlock()
	return front, nil
}

// hold records c as open until the returned function runs; it reports
// false when the bridge is closing.
func (b *bridge) hold(c io.Closer) (release func(), ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open == nil {
		return nil, false
	}
	b.open[c] = true
	return func() {
		b.mu.Lock()
		delete(b.open, c)
		b.mu.Unlock()
		_ = c.Close()
	}, true
}

// serve upgrades the request of a Dial and relays until either side ends.
func (b *bridge) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	target := b.targets[r.RemoteAddr]
	delete(b.targets, r.RemoteAddr)
	b.mu.Unlock()
	if target == nil {
		http.Error(w, "no dial waits for this connection", http.StatusBadGateway)
		return
	}
	releaseTarget, ok := b.hold(target)
	if !ok {
		_ = target.Close()
		return
	}
	defer releaseTarget()
	up := gorilla.Upgrader{Subprotocols: []string{"mqtt"}}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	releaseWS, ok := b.hold(ws.NetConn())
	if !ok {
		return
	}
	defer releaseWS()

	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := target.Read(buf)
			if n > 0 && ws.WriteMessage(gorilla.BinaryMessage, buf[:n]) != nil {
				return
			}
			switch {
			case err == io.EOF:
				_ = ws.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(gorilla.CloseNormalClosure, ""), time.Now().Add(time.Second))
				return // the client's close frame in reply ends the loop below
			case errors.Is(err, driver.ErrReset):
				if tc, ok := ws.NetConn().(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // Close sends RST
				}
				_ = ws.NetConn().Close()
				return
			case err != nil:
				_ = ws.NetConn().Close()
				return
			}
		}
	}()
	for {
		kind, msg, err := ws.NextReader()
		if err != nil || kind != gorilla.BinaryMessage {
			break
		}
		if _, err := io.Copy(target, msg); err != nil {
			break
		}
	}
	_ = target.Close()
	<-done
}

func (b *bridge) close() {
	_ = b.srv.Close()
	b.mu.Lock()
	open := b.open
	b.open = nil
	b.mu.Unlock()
	for c := range open {
		_ = c.Close()
	}
	b.wg.Wait()
}
