package websocket_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	gorilla "github.com/gorilla/websocket"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/drivers/websocket"
)

// Open the driver over "tcp" (ws://) with a registry of one's own, dial
// a WebSocket echo server and use the connection as a byte stream. For
// the hub, over is "tls" (wss://, port 443) with the tls driver's own
// configuration in over_config.
func Example() {
	// A WebSocket server that echoes binary messages.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&gorilla.Upgrader{Subprotocols: []string{"mqtt"}}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			kind, msg, err := ws.ReadMessage()
			if err != nil || ws.WriteMessage(kind, msg) != nil {
				return
			}
		}
	}))
	defer srv.Close()

	reg := core.NewRegistry()
	for _, d := range []driver.Driver{posix.NewTCP(), websocket.NewIn(reg)} {
		if err := reg.Register(d); err != nil {
			panic(err)
		}
	}
	drv, err := reg.Driver("websocket")
	if err != nil {
		panic(err)
	}
	dl, err := drv.Open([]byte(`{"over": "tcp", "path": "/mqtt"}`))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dl.Dial(ctx, driver.Stream, strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		panic(err)
	}
	defer conn.Close()

	if _, err := conn.Write([]byte("hello over ws")); err != nil {
		panic(err)
	}
	got := make([]byte, len("hello over ws"))
	if _, err := io.ReadFull(conn, got); err != nil {
		panic(err)
	}
	fmt.Println(string(got))
	// Output: hello over ws
}
