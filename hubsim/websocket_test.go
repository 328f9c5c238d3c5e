package hubsim

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	gorilla "github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startWSHub starts a hub whose only MQTT listeners are ws and wss.
func startWSHub(t *testing.T) *Hub {
	t.Helper()
	h, err := Start(context.Background(), Config{
		StateDir: t.TempDir(), TLSAddr: Off, TCPAddr: Off, AdminAddr: Off,
		WSAddr: "127.0.0.1:0", WSSAddr: "127.0.0.1:0",
		Now: func() time.Time { return testNow }, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// wsConn is a paho connection over ws:// or wss:// to path.
func wsConn(h *Hub, path string, tc *tls.Config) conn {
	if tc == nil {
		return conn{opts: paho.NewClientOptions().AddBroker("ws://" + h.WSAddr() + path), broker: h.WSAddr()}
	}
	return conn{opts: paho.NewClientOptions().AddBroker("wss://" + h.WSSAddr() + path).SetTLSConfig(tc), broker: h.WSSAddr()}
}

// Devices connect over WebSocket with the same authentication as over
// TCP and TLS: a key device by username and password on ws and wss, a
// cert device by the client certificate of the wss handshake, which it
// cannot present on ws.
func TestWebSocketAuthentication(t *testing.T) {
	h := startWSHub(t)
	_, err := h.CreateDevice("PWSKEY0001", "dev1", false)
	require.NoError(t, err)
	_, err = h.CreateDevice("PWSCERT001", "dev2", true)
	require.NoError(t, err)
	cert, err := h.Store().Device("PWSCERT001", "dev2")
	require.NoError(t, err)
	pair, err := tls.X509KeyPair([]byte(cert.CertPEM), []byte(cert.KeyPEM))
	require.NoError(t, err)
	withCert := caConfig(t, h)
	withCert.Certificates = []tls.Certificate{pair}
	certUser, _ := signUsername(t, cert.ClientID(), "21010406", testNow.Add(time.Hour).Unix(), "AAAAAAAAAAAAAAAAAAAAAA==", "hmacsha256")

	t.Run("key device over ws, C SDK path", func(t *testing.T) {
		cl := connectKey(t, h, wsConn(h, "/", nil), "PWSKEY0001", "dev1")
		assert.Equal(t, "ws", h.Status("PWSKEY0001", "dev1").Listener)
		tok := cl.Publish("PWSKEY0001/dev1/event", 1, false, "over ws")
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error(), "PUBACK")
		waitFor(t, "the message logged", func() bool {
			for _, m := range h.Messages("PWSKEY0001", "dev1") {
				if m.Payload == "over ws" {
					return true
				}
			}
			return false
		})
		cl.Disconnect(100)
	})
	t.Run("key device over wss, paho's path", func(t *testing.T) {
		cl := connectKey(t, h, wsConn(h, "/mqtt", caConfig(t, h)), "PWSKEY0001", "dev1")
		assert.Equal(t, "wss", h.Status("PWSKEY0001", "dev1").Listener)
		cl.Disconnect(100)
	})
	t.Run("cert device over wss", func(t *testing.T) {
		cl, err := connect(t, wsConn(h, "/", withCert), cert.ClientID(), certUser, "")
		require.NoError(t, err)
		assert.True(t, cl.IsConnectionOpen())
		waitFor(t, "recorded as connected", func() bool { return h.Status("PWSCERT001", "dev2").Connected })
		assert.Equal(t, "wss", h.Status("PWSCERT001", "dev2").Listener)
		cl.Disconnect(100)
	})
	t.Run("cert device over ws", func(t *testing.T) {
		_, err := connect(t, wsConn(h, "/", nil), cert.ClientID(), certUser, "")
		require.ErrorIs(t, err, packets.ErrorRefusedNotAuthorised)
		refusals := h.Refusals()
		require.NotEmpty(t, refusals)
		assert.Contains(t, refusals[len(refusals)-1].Reason, "plain TCP")
	})
}

// The upgrade needs subprotocol mqtt, like a real MQTT over WebSocket
// server; the path may be anything.
func TestWebSocketUpgrade(t *testing.T) {
	h := startWSHub(t)
	rows := []struct {
		name         string
		path         string
		subprotocols []string
		wantStatus   int
	}{
		{"C SDK", "/", []string{"mqtt"}, http.StatusSwitchingProtocols},
		{"paho", "/mqtt", []string{"mqtt"}, http.StatusSwitchingProtocols},
		{"among others", "/any/path?x=1", []string{"wamp", "mqtt"}, http.StatusSwitchingProtocols},
		{"none", "/", nil, http.StatusBadRequest},
		{"another", "/mqtt", []string{"mqttv3.1"}, http.StatusBadRequest},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			d := gorilla.Dialer{Subprotocols: row.subprotocols}
			ws, resp, err := d.Dial("ws://"+h.WSAddr()+row.path, nil)
			require.NotNil(t, resp, "%v", err)
			assert.Equal(t, row.wantStatus, resp.StatusCode)
			if row.wantStatus != http.StatusSwitchingProtocols {
				body, _ := io.ReadAll(resp.Body)
				assert.Contains(t, string(body), `needs subprotocol "mqtt"`)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "mqtt", ws.Subprotocol())
			_ = ws.Close()
		})
	}
}

// A text message closes the connection with code 1003.
func TestWebSocketTextMessageCloses(t *testing.T) {
	h := startWSHub(t)
	ws, _, err := (&gorilla.Dialer{Subprotocols: []string{"mqtt"}}).Dial("ws://"+h.WSAddr()+"/", nil)
	require.NoError(t, err)
	defer ws.Close()
	// A CONNECT's first bytes, in the wrong kind of message.
	require.NoError(t, ws.WriteMessage(gorilla.TextMessage, []byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T'}))
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, _, err = ws.ReadMessage()
	assert.True(t, gorilla.IsCloseError(err, gorilla.CloseUnsupportedData), "want close 1003, got %v", err)
}

// With the hub closed, the WebSocket listeners no longer accept.
func TestWebSocketListenersClose(t *testing.T) {
	h := startWSHub(t)
	_, err := h.CreateDevice("PWSKEY0002", "dev1", false)
	require.NoError(t, err)
	connectKey(t, h, wsConn(h, "/", nil), "PWSKEY0002", "dev1")
	addr := h.WSAddr()
	require.NoError(t, h.Close())
	_, _, err = (&gorilla.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}).Dial("ws://"+addr+"/", nil)
	assert.Error(t, err)
	assert.Empty(t, Config{}.WSAddr, "off unless asked for: no test binds a fixed port")
}
