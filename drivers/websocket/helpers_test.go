package websocket_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/drivers/websocket"
)

// testCtx bounds a test's dials; generous, never asserted.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// posixRegistry holds the tcp and tls drivers, the carriers of ws:// and
// wss://.
func posixRegistry(t *testing.T) *core.Registry {
	t.Helper()
	reg := core.NewRegistry()
	require.NoError(t, reg.Register(posix.NewTCP()))
	require.NoError(t, reg.Register(posix.NewTLSIn(reg)))
	return reg
}

// open opens the websocket driver of reg with config.
func open(t *testing.T, reg *core.Registry, config string) driver.Dialer {
	t.Helper()
	dl, err := websocket.NewIn(reg).Open([]byte(config))
	require.NoError(t, err)
	return dl
}

// wsServer serves WebSocket on loopback: each upgraded connection (with
// subprotocol mqtt when the client offers it) goes to handle, together
// with its request, and is closed when handle returns. It returns the
// server's "host:port".
func wsServer(t *testing.T, handle func(*gorilla.Conn, *http.Request)) string {
	t.Helper()
	up := gorilla.Upgrader{Subprotocols: []string{"mqtt"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		handle(ws, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// echo sends every message back as it came.
func echo(ws *gorilla.Conn, _ *http.Request) {
	for {
		kind, msg, err := ws.ReadMessage()
		if err != nil || ws.WriteMessage(kind, msg) != nil {
			return
		}
	}
}

// dialTCP dials the websocket driver over tcp (ws://) to addr.
func dialTCP(t *testing.T, addr, config string) driver.Conn {
	t.Helper()
	if config == "" {
		config = `{"over":"tcp"}`
	}
	conn, err := open(t, posixRegistry(t), config).Dial(testCtx(t), driver.Stream, addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
