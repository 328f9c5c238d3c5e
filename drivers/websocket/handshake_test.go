package websocket_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/driver"
)

// The request is the C SDK's: GET / HTTP/1.1, Host with the port always
// written, Upgrade, Connection, the subprotocol mqtt, version 13; path and
// extra headers come from the configuration.
func TestHandshakeRequest(t *testing.T) {
	rows := []struct {
		name, config, wantURI string
		wantHeader            map[string]string
	}{
		{"defaults", `{"over":"tcp"}`, "/", nil},
		{"paho's path", `{"over":"tcp","path":"/mqtt"}`, "/mqtt", nil},
		{"path with query", `{"over":"tcp","path":"/mqtt?product=P1"}`, "/mqtt?product=P1", nil},
		{"extra header", `{"over":"tcp","headers":{"x-trace":"abc"}}`, "/", map[string]string{"X-Trace": "abc"}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			reqs := make(chan *http.Request, 1)
			addr := wsServer(t, func(ws *gorilla.Conn, r *http.Request) {
				reqs <- r
				echo(ws, r)
			})
			conn := dialTCP(t, addr, row.config)
			r := <-reqs
			assert.Equal(t, "GET", r.Method)
			assert.Equal(t, "HTTP/1.1", r.Proto)
			assert.Equal(t, row.wantURI, r.RequestURI)
			assert.Equal(t, addr, r.Host, "Host is host:port")
			assert.Equal(t, "websocket", r.Header.Get("Upgrade"))
			assert.Equal(t, "Upgrade", r.Header.Get("Connection"))
			assert.Equal(t, "13", r.Header.Get("Sec-WebSocket-Version"))
			assert.Equal(t, []string{"mqtt"}, gorilla.Subprotocols(r))
			assert.NotEmpty(t, r.Header.Get("Sec-WebSocket-Key"))
			for k, v := range row.wantHeader {
				assert.Equal(t, v, r.Header.Get(k))
			}
			assert.Equal(t, "mqtt", conn.(interface{ Subprotocol() string }).Subprotocol())
		})
	}
}

// Host keeps a default port: ws://hub:80 still sends "Host: hub:80", as
// the C SDK does, where a browser would drop the port.
func TestHandshakeHostKeepsDefaultPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err == nil {
			got <- req.Host
		}
	}()
	// A carrier that connects anywhere to the listener, so that the
	// address dialled can carry port 80.
	reg := posixRegistry(t)
	require.NoError(t, reg.Register(redirect{to: ln.Addr().String()}))
	ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
	defer cancel()
	_, _ = open(t, reg, `{"over":"redirect"}`).Dial(ctx, driver.Stream, "hub.example:80")
	assert.Equal(t, "hub.example:80", <-got)
}

// A refused upgrade is driver.ErrHandshake, and the message gives the
// HTTP status and what to check.
func TestHandshakeRefused(t *testing.T) {
	noSubprotocol := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&gorilla.Upgrader{}).Upgrade(w, r, nil) // selects no subprotocol
		if err == nil {
			ws.Close()
		}
	}))
	defer noSubprotocol.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/mqtt", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "needs subprotocol mqtt", http.StatusBadRequest)
	})
	only := httptest.NewServer(mux) // 404 for any other path
	defer only.Close()
	notHTTP := rawServer(t, "\x20\x02\x00\x00") // an MQTT CONNACK: the MQTT port
	silent := rawServer(t, "")                  // closes at once

	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	rows := []struct {
		name, addr, config string
		want               error
		wantMsg            []string
	}{
		{"404", host(only), `{"over":"tcp"}`, driver.ErrHandshake, []string{`server answered HTTP 404 Not Found ("404 page not found") to GET /: check the websocket path`}},
		{"400", host(only), `{"over":"tcp","path":"/mqtt"}`, driver.ErrHandshake, []string{`HTTP 400 Bad Request ("needs subprotocol mqtt") to GET /mqtt`, "check the subprotocol"}},
		{"no subprotocol", host(noSubprotocol), `{"over":"tcp"}`, driver.ErrHandshake, []string{`without selecting subprotocol "mqtt"`, "check the websocket path"}},
		{"not HTTP", notHTTP, `{"over":"tcp"}`, driver.ErrHandshake, []string{"is not HTTP", "check the port"}},
		{"closed without answer", silent, `{"over":"tcp"}`, driver.ErrReset, []string{"closed the connection without answering GET /"}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			conn, err := open(t, posixRegistry(t), row.config).Dial(testCtx(t), driver.Stream, row.addr)
			require.Error(t, err)
			assert.Nil(t, conn)
			assert.ErrorIs(t, err, row.want)
			for _, m := range row.wantMsg {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

// The carrier's dial errors reach the caller with their sentinels.
func TestDialCarrierErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	dl := open(t, posixRegistry(t), `{"over":"tcp"}`)
	_, err = dl.Dial(testCtx(t), driver.Stream, closed)
	assert.ErrorIs(t, err, driver.ErrRefused)
	_, err = dl.Dial(testCtx(t), driver.Datagram, closed)
	assert.ErrorIs(t, err, driver.ErrNotSupported)
	_, err = dl.Dial(testCtx(t), driver.Stream, "no-port")
	assert.ErrorContains(t, err, "websocket: dial no-port")
}

// Cancelling the dial's context ends a handshake the server never
// answers, although it has no deadline.
func TestHandshakeCancelled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // holds the connection, answers nothing
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = open(t, posixRegistry(t), `{"over":"tcp"}`).Dial(ctx, driver.Stream, ln.Addr().String())
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
}

// rawServer accepts connections, writes reply to each and closes it.
func rawServer(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = bufio.NewReader(c).ReadString('\n') // the request line
				_, _ = c.Write([]byte(reply))
			}()
		}
	}()
	return ln.Addr().String()
}

// redirect is a stream carrier that connects to one address whatever
// address it is given.
type redirect struct{ to string }

func (redirect) Name() string                         { return "redirect" }
func (redirect) Transports() []driver.Transport       { return []driver.Transport{driver.Stream} }
func (redirect) Probe(context.Context) error          { return nil }
func (r redirect) Open([]byte) (driver.Dialer, error) { return r, nil }
func (r redirect) Dial(ctx context.Context, _ driver.Transport, _ string) (driver.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", r.to)
	if err != nil {
		return nil, errors.Join(driver.ErrRefused, err)
	}
	return c, nil
}
