package hubsim

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Raw MQTT over a TCP socket: the tests here assert the exact bytes the hub
// writes (or that it writes none), which a client library would hide.

// CONNECT flag bits (MQTT 3.1.1 §3.1.2.3).
const (
	flagReserved   = 0x01
	flagClean      = 0x02
	flagWill       = 0x04
	flagWillRetain = 0x20
	flagPassword   = 0x40
	flagUsername   = 0x80
)

type rawConnect struct {
	name  string // protocol name; "" means "MQTT"
	level byte   // protocol level; 0 means 4
	flags byte   // every flag, username and password included
	id    string
	user  string
	pass  string
	// will topic and message, sent when flags has flagWill
	willTopic, willMsg string
}

// appendString appends an MQTT string: a 2-byte length, then the bytes.
func appendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

// rawPacket frames body with a fixed header (type and flags in first).
func rawPacket(first byte, body []byte) []byte {
	out := []byte{first}
	n := len(body)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		out = append(out, d)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}

func (c rawConnect) bytes() []byte {
	name, level := c.name, c.level
	if name == "" {
		name = "MQTT"
	}
	if level == 0 {
		level = 4
	}
	b := appendString(nil, name)
	b = append(b, level, c.flags, 0, 60) // keepalive 60 s
	if level == 5 {
		b = append(b, 0) // no properties
	}
	b = appendString(b, c.id)
	if c.flags&flagWill != 0 {
		if level == 5 {
			b = append(b, 0) // no will properties
		}
		b = appendString(appendString(b, c.willTopic), c.willMsg)
	}
	if c.flags&flagUsername != 0 {
		b = appendString(b, c.user)
	}
	if c.flags&flagPassword != 0 {
		b = appendString(b, c.pass)
	}
	return rawPacket(0x10, b)
}

func rawPublish(topic string, qos byte, id uint16, payload []byte) []byte {
	b := appendString(nil, topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	return rawPacket(0x30|qos<<1, append(b, payload...))
}

var pingreq = []byte{0xc0, 0x00}

// rawConn is a TCP connection to the hub's plain listener.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, h *Hub) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", h.TCPAddr(), 10*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (r *rawConn) send(pkts ...[]byte) {
	r.t.Helper()
	var all []byte
	for _, p := range pkts {
		all = append(all, p...)
	}
	require.NoError(r.t, r.c.SetWriteDeadline(time.Now().Add(10*time.Second)))
	_, err := r.c.Write(all)
	require.NoError(r.t, err)
}

// read returns the next packet, whole (fixed header included).
func (r *rawConn) read() []byte {
	r.t.Helper()
	require.NoError(r.t, r.c.SetReadDeadline(time.Now().Add(10*time.Second)))
	first, err := r.r.ReadByte()
	require.NoError(r.t, err, "expected a packet")
	out := []byte{first}
	n, mult := 0, 1
	for {
		d, err := r.r.ReadByte()
		require.NoError(r.t, err)
		out = append(out, d)
		n += int(d&0x7f) * mult
		mult *= 128
		if d&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r.r, body)
	require.NoError(r.t, err)
	return append(out, body...)
}

// expectClosed asserts that the hub closes the connection without writing
// another byte.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	require.NoError(r.t, r.c.SetReadDeadline(time.Now().Add(10*time.Second)))
	b, err := io.ReadAll(r.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatalf("the hub did not close the connection (read %x)", b)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, os.ErrClosed) {
		r.t.Fatalf("reading until the close: %v", err)
	}
	require.Empty(r.t, b, "the hub wrote bytes before closing (% x)", b)
}

// validConnect is a 3.1.1 CONNECT of a key device, signed.
func validConnect(t *testing.T, h *Hub, pid, dn string) rawConnect {
	t.Helper()
	d, err := h.Store().Device(pid, dn)
	require.NoError(t, err)
	user, pass := signUsername(t, pid+dn, "21010406", testNow.Add(time.Hour).Unix(), d.Secret, "hmacsha256")
	return rawConnect{flags: flagClean | flagUsername | flagPassword, id: pid + dn, user: user, pass: pass}
}

var connackOK = []byte{0x20, 0x02, 0x00, 0x00}

// connectRaw opens a raw connection and connects a key device with it.
func connectRaw(t *testing.T, h *Hub, pid, dn string) *rawConn {
	t.Helper()
	r := dialRaw(t, h)
	r.send(validConnect(t, h, pid, dn).bytes())
	require.Equal(t, connackOK, r.read())
	return r
}

func puback(id uint16) []byte { return binary.BigEndian.AppendUint16([]byte{0x40, 0x02}, id) }
