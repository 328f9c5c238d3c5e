package hubsim

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v2"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
	"github.com/stretchr/testify/require"

	dtlsdrv "github.com/iotd/iotd/drivers/posix/dtls"
)

// coapTestClock is a hub clock tests can move forward.
type coapTestClock struct{ off atomic.Int64 }

func (c *coapTestClock) now() time.Time          { return testNow.Add(time.Duration(c.off.Load())) }
func (c *coapTestClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// startCoAPHub starts a hub with both CoAP listeners on free ports; tweak
// may change the config.
func startCoAPHub(t *testing.T, tweak func(*Config)) (*Hub, *coapTestClock) {
	t.Helper()
	clock := &coapTestClock{}
	lw := &testLogWriter{t: t, on: os.Getenv("HUBSIM_TEST_LOG") != ""}
	cfg := Config{
		StateDir: t.TempDir(), TLSAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		CoAPAddr: "127.0.0.1:0", CoAPPlainAddr: "127.0.0.1:0",
		Now: clock.now, Logger: slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	h, err := Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h, clock
}

// dialDTLS runs a pion PSK handshake with the hub, offering the hub's CBC
// suites first, as our dtls driver does.
func dialDTLS(addr, identity string, key []byte, timeout time.Duration) (*piondtls.Conn, error) {
	return dialDTLSSuite(addr, identity, key, timeout, 0)
}

// dialDTLSSuite is dialDTLS offering only suite (0: the default offer).
func dialDTLSSuite(addr, identity string, key []byte, timeout time.Duration, suite piondtls.CipherSuiteID) (*piondtls.Conn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	cfg := &piondtls.Config{
		PSK:                func([]byte) ([]byte, error) { return key, nil },
		PSKIdentityHint:    []byte(identity),
		CipherSuites:       []piondtls.CipherSuiteID{piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256},
		CustomCipherSuites: dtlsdrv.PSKCipherSuites,
	}
	switch suite {
	case 0:
	case dtlsdrv.TLS_PSK_WITH_AES_128_CBC_SHA, dtlsdrv.TLS_PSK_WITH_AES_256_CBC_SHA:
		cfg.CipherSuites = []piondtls.CipherSuiteID{}
		cfg.CustomCipherSuites = func() []piondtls.CipherSuite {
			for _, c := range dtlsdrv.PSKCipherSuites() {
				if c.ID() == suite {
					return []piondtls.CipherSuite{c}
				}
			}
			return nil
		}
	default:
		cfg.CipherSuites, cfg.CustomCipherSuites = []piondtls.CipherSuiteID{suite}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return piondtls.DialWithContext(ctx, "udp", ua, cfg)
}

// coapClient is a minimal CoAP client over a datagram connection: it
// builds requests with go-coap's codec and matches replies itself.
type coapClient struct {
	t    *testing.T
	conn net.Conn
	mid  uint16
	tok  uint32
}

// newDTLSClient connects device pid/dn (created when absent) over DTLS.
func newDTLSClient(t *testing.T, h *Hub, pid, dn string) *coapClient {
	t.Helper()
	d := ensureDevice(t, h, pid, dn)
	key, err := base64.StdEncoding.DecodeString(d.Secret)
	require.NoError(t, err)
	conn, err := dialDTLS(h.CoAPAddr(), pid+dn, key, 10*time.Second)
	require.NoError(t, err)
	c := &coapClient{t: t, conn: conn, mid: 100}
	t.Cleanup(c.close)
	return c
}

// close clears the read deadline (pion keeps a timer goroutine per
// deadline, even on a closed connection) and closes the connection.
func (c *coapClient) close() {
	_ = c.conn.SetReadDeadline(time.Time{})
	_ = c.conn.Close()
}

// newPlainClient talks plain CoAP to the hub.
func newPlainClient(t *testing.T, h *Hub) *coapClient {
	t.Helper()
	conn, err := net.Dial("udp", h.CoAPPlainAddr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &coapClient{t: t, conn: conn, mid: 100}
}

func ensureDevice(t *testing.T, h *Hub, pid, dn string) Device {
	t.Helper()
	if d, err := h.Store().Device(pid, dn); err == nil {
		return d
	}
	_, err := h.CreateDevice(pid, dn, false)
	require.NoError(t, err)
	d, err := h.Store().Device(pid, dn)
	require.NoError(t, err)
	return d
}

// reqOpt adjusts a request before it is encoded.
type reqOpt func(*message.Message)

func withOption(id message.OptionID, v string) reqOpt {
	return func(m *message.Message) { m.Options = m.Options.Add(message.Option{ID: id, Value: []byte(v)}) }
}

func withCode(c codes.Code) reqOpt { return func(m *message.Message) { m.Code = c } }

// splitPath sends the path as one Uri-Path option per segment (libcoap's
// way) instead of the SDK's single option.
func splitPath(m *message.Message) {
	var segs []message.Option
	var rest message.Options
	for _, o := range m.Options {
		if o.ID != message.URIPath {
			rest = append(rest, o)
			continue
		}
		start := 0
		for i := 0; i <= len(o.Value); i++ {
			if i == len(o.Value) || o.Value[i] == '/' {
				segs = append(segs, message.Option{ID: message.URIPath, Value: o.Value[start:i]})
				start = i + 1
			}
		}
	}
	m.Options = rest
	for _, s := range segs {
		m.Options = m.Options.Add(s)
	}
}

// request builds a CON POST to path (one Uri-Path option, as the SDK
// sends it) with the next message id and a 4-byte little-endian token.
func (c *coapClient) request(path string, payload []byte, opts ...reqOpt) message.Message {
	c.mid++
	c.tok++
	tok := make([]byte, 4)
	binary.LittleEndian.PutUint32(tok, c.tok)
	m := message.Message{Type: message.Confirmable, Code: codes.POST, MessageID: int32(c.mid), Token: tok, Payload: payload}
	m.Options = m.Options.Add(message.Option{ID: message.URIPath, Value: []byte(path)})
	for _, o := range opts {
		o(&m)
	}
	return m
}

func (c *coapClient) encode(m message.Message) []byte {
	c.t.Helper()
	b := coapEncode(m)
	require.NotNil(c.t, b, "encode %v", m.String())
	return b
}

func (c *coapClient) send(b []byte) {
	c.t.Helper()
	_, err := c.conn.Write(b)
	require.NoError(c.t, err)
}

// read returns the next datagram from the hub, decoded; ok is false when
// none arrived within wait.
func (c *coapClient) read(wait time.Duration) (message.Message, bool) {
	c.t.Helper()
	buf := make([]byte, 4096)
	require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(wait)))
	n, err := c.conn.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return message.Message{}, false
	}
	require.NoError(c.t, err)
	m := message.Message{Options: make(message.Options, 0, 16)}
	_, err = coder.DefaultCoder.Decode(buf[:n], &m)
	require.NoError(c.t, err)
	m.Payload = append([]byte(nil), m.Payload...)
	return m, true
}

// next is read that fails the test when nothing arrives.
func (c *coapClient) next() message.Message {
	c.t.Helper()
	m, ok := c.read(10 * time.Second)
	require.True(c.t, ok, "no CoAP datagram from the hub")
	return m
}

// do sends a request and returns the ACK that answers it.
func (c *coapClient) do(m message.Message) message.Message {
	c.t.Helper()
	c.send(c.encode(m))
	for {
		r := c.next()
		if r.Type == message.Acknowledgement && r.MessageID == m.MessageID {
			return r
		}
	}
}

// auth authenticates as pid/dn with the SDK's 16-byte payload and returns
// the token.
func (c *coapClient) auth(pid, dn string) string {
	c.t.Helper()
	r := c.do(c.request(pid+"/"+dn+"/"+CoAPAuthPath, []byte("21010406;Ab3xZ\x00\x7f"), withOption(CoAPOptionNeedResponse, "0")))
	require.Equal(c.t, codes.Content, r.Code, "auth")
	return string(r.Payload)
}

// publish sends a CON publish with the token and need-response flag and
// returns the ACK.
func (c *coapClient) publish(token, topic, needResp string, payload []byte, opts ...reqOpt) message.Message {
	c.t.Helper()
	opts = append([]reqOpt{withOption(CoAPOptionToken, token), withOption(CoAPOptionNeedResponse, needResp)}, opts...)
	return c.do(c.request(topic, payload, opts...))
}

// messagesOn returns the payloads the hub logged from pid/dn on topic.
func messagesOn(h *Hub, pid, dn, topic string) []string {
	var out []string
	for _, r := range h.Messages(pid, dn) {
		if r.Topic == topic && r.Direction == Up && !r.Denied {
			out = append(out, r.Payload)
		}
	}
	return out
}

// routeRecorder is a service recording what reaches handlers.
type routeRecorder struct {
	filter string
	mu     sync.Mutex
	got    []Message
}

func (*routeRecorder) Name() string { return "recorder" }

func (r *routeRecorder) Start(_ context.Context, h *Hub) error {
	h.Handle("recorder", r.filter, func(m Message) {
		r.mu.Lock()
		defer r.mu.Unlock()
		m.Payload = append([]byte(nil), m.Payload...)
		r.got = append(r.got, m)
	})
	return nil
}

func (r *routeRecorder) messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.got...)
}
