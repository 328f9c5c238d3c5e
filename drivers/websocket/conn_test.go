package websocket_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	gorilla "github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
)

// Read joins messages into one stream: a message's remainder waits for
// the next Read, and a packet may span messages, as the C SDK's ring
// buffer allows.
func TestReadAcrossMessages(t *testing.T) {
	addr := wsServer(t, func(ws *gorilla.Conn, _ *http.Request) {
		for _, m := range []string{"abcde", "fg", "h", "ijklmnop"} {
			_ = ws.WriteMessage(gorilla.BinaryMessage, []byte(m))
		}
		_, _, _ = ws.ReadMessage() // until the client closes
	})
	conn := dialTCP(t, addr, "")
	p := make([]byte, 2)
	n, err := conn.Read(p)
	require.NoError(t, err)
	assert.Equal(t, "ab", string(p[:n]), "a short buffer takes the message's start")
	rest := make([]byte, 14)
	_, err = io.ReadFull(conn, rest)
	require.NoError(t, err)
	assert.Equal(t, "cdefghijklmnop", string(rest))
}

// Each Write is one binary message, whatever its size.
func TestWriteIsOneBinaryMessage(t *testing.T) {
	type msg struct {
		kind int
		data []byte
	}
	got := make(chan msg, 8)
	addr := wsServer(t, func(ws *gorilla.Conn, _ *http.Request) {
		for {
			kind, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			got <- msg{kind, data}
		}
	})
	conn := dialTCP(t, addr, "")
	for _, n := range []int{1, 125, 126, 4096, 20 << 10, 100 << 10} {
		p := bytes.Repeat([]byte{byte(n)}, n)
		w, err := conn.Write(p)
		require.NoError(t, err)
		assert.Equal(t, n, w)
		m := <-got
		assert.Equal(t, gorilla.BinaryMessage, m.kind)
		assert.Equal(t, p, m.data, "a Write of %d bytes", n)
	}
}

// A Write that fits the write buffer is a single frame with FIN set, as
// the C SDK sends every MQTT packet: a server that does not join
// fragments still reads it.
func TestWriteIsOneFrame(t *testing.T) {
	frames := make(chan [2]int, 1) // first byte, payload length
	addr := rawWS(t, func(c net.Conn, br *bufio.Reader) {
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(hdr[1] & 0x7f)
		if n == 126 {
			var ext [2]byte
			if _, err := io.ReadFull(br, ext[:]); err != nil {
				return
			}
			n = int(binary.BigEndian.Uint16(ext[:]))
		}
		frames <- [2]int{int(hdr[0]), n}
	})
	conn := dialTCP(t, addr, "")
	_, err := conn.Write(make([]byte, 20<<10))
	require.NoError(t, err)
	f := <-frames
	assert.Equal(t, 0x82, f[0], "FIN and opcode 2 (binary)")
	assert.Equal(t, 20<<10, f[1], "the whole Write in the first frame")
}

// A text message breaks the protocol: Read fails, and the peer gets
// close code 1003.
func TestTextMessageIsRefused(t *testing.T) {
	closed := make(chan error, 1)
	addr := wsServer(t, func(ws *gorilla.Conn, _ *http.Request) {
		_ = ws.WriteMessage(gorilla.BinaryMessage, []byte("ok"))
		_ = ws.WriteMessage(gorilla.TextMessage, []byte("{}"))
		_, _, err := ws.ReadMessage()
		closed <- err
	})
	conn := dialTCP(t, addr, "")
	got, err := io.ReadAll(conn)
	assert.Equal(t, "ok", string(got), "the binary message before it is read")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "text message")
	assert.True(t, gorilla.IsCloseError(<-closed, gorilla.CloseUnsupportedData), "the peer is told 1003")
	_, err = conn.Read(make([]byte, 1))
	assert.Contains(t, err.Error(), "text message", "and every later Read")
}

// How the peer ends the connection decides what Read returns after the
// data: an orderly close frame io.EOF, anything else driver.ErrReset.
func TestPeerEnds(t *testing.T) {
	rows := []struct {
		name string
		end  func(*gorilla.Conn)
		want error
	}{
		{"close 1000", closeWith(gorilla.CloseNormalClosure), io.EOF},
		{"close 1001", closeWith(gorilla.CloseGoingAway), io.EOF},
		{"close without code", func(ws *gorilla.Conn) {
			_ = ws.WriteControl(gorilla.CloseMessage, nil, time.Now().Add(time.Second))
		}, io.EOF},
		{"close 1011", closeWith(gorilla.CloseInternalServerErr), driver.ErrReset},
		{"no close frame", func(ws *gorilla.Conn) { _ = ws.NetConn().Close() }, driver.ErrReset},
		{"reset", func(ws *gorilla.Conn) {
			_ = ws.NetConn().(*net.TCPConn).SetLinger(0)
			_ = ws.NetConn().Close()
		}, driver.ErrReset},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			addr := wsServer(t, func(ws *gorilla.Conn, _ *http.Request) {
				_ = ws.WriteMessage(gorilla.BinaryMessage, []byte("last words"))
				row.end(ws)
				_, _, _ = ws.ReadMessage() // the client's close frame, if any
			})
			conn := dialTCP(t, addr, "")
			got := make([]byte, 10)
			_, err := io.ReadFull(conn, got)
			require.NoError(t, err)
			assert.Equal(t, "last words", string(got))
			_, err = conn.Read(got)
			if row.want == io.EOF {
				assert.Equal(t, io.EOF, err, "io.EOF itself, for callers that compare")
			} else {
				assert.ErrorIs(t, err, row.want)
				assert.NotErrorIs(t, err, io.EOF)
			}
			_, again := conn.Read(got)
			assert.Equal(t, err, again, "every later Read says the same")
		})
	}
}

func closeWith(code int) func(*gorilla.Conn) {
	return func(ws *gorilla.Conn) {
		_ = ws.WriteControl(gorilla.CloseMessage, gorilla.FormatCloseMessage(code, "bye"), time.Now().Add(time.Second))
	}
}

// Close sends a close frame with code 1000 before closing the carrier.
func TestCloseSendsCloseFrame(t *testing.T) {
	ended := make(chan error, 1)
	addr := wsServer(t, func(ws *gorilla.Conn, _ *http.Request) {
		_, _, err := ws.ReadMessage()
		ended <- err
	})
	conn := dialTCP(t, addr, "")
	require.NoError(t, conn.Close())
	assert.True(t, gorilla.IsCloseError(<-ended, gorilla.CloseNormalClosure))
	assert.ErrorIs(t, conn.Close(), net.ErrClosed, "a second Close")
}

// The peer's pings are answered while the application reads nothing.
func TestPingIsAnswered(t *testing.T) {
	pong := make(chan string, 1)
	addr := wsServer(t, func(ws *gorilla.Conn, _ *http.Request) {
		ws.SetPongHandler(func(data string) error { pong <- data; return nil })
		_ = ws.WriteControl(gorilla.PingMessage, []byte("are you there"), time.Now().Add(time.Second))
		_, _, _ = ws.ReadMessage() // runs the pong handler
	})
	dialTCP(t, addr, "")
	assert.Equal(t, "are you there", <-pong)
}

// Frames cut into 1..8-byte pieces by the path still make whole
// messages, in both directions.
func TestFragmentedCarrier(t *testing.T) {
	relay, err := peer.NewStreamRelay(wsServer(t, echo), peer.Fragmentation{MaxChunk: 8, Pause: 0.01, Seed: 13})
	require.NoError(t, err)
	t.Cleanup(func() { _ = relay.Close() })
	conn := dialTCP(t, relay.Addr(), "")
	for _, n := range []int{1, 130, 1500, 64 << 10} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 7)
		}
		_, err := conn.Write(p)
		require.NoError(t, err)
		got := make([]byte, n)
		_, err = io.ReadFull(conn, got)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(p, got), "echo of %d bytes differs", n)
	}
}

// driver.Lookup sees through the conn to its carrier (a modem's signal
// quality, the TLS state).
func TestLookupReachesTheCarrier(t *testing.T) {
	conn := dialTCP(t, wsServer(t, echo), "")
	tc, err := driver.Lookup[*net.TCPConn](conn)
	require.NoError(t, err)
	assert.Equal(t, conn.LocalAddr().String(), tc.LocalAddr().String())
}

// rawWS accepts one WebSocket handshake by hand and hands the connection
// to serve, so that a test can read the frames themselves.
func rawWS(t *testing.T, serve func(net.Conn, *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		_, err = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Protocol: mqtt\r\nSec-WebSocket-Accept: "+base64.StdEncoding.EncodeToString(sum[:])+"\r\n\r\n")
		if err != nil {
			return
		}
		serve(c, br)
	}()
	return ln.Addr().String()
}
