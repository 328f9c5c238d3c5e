package coap

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

const (
	testPID = "PRODUCT001"
	testDN  = "dev1"
)

// rcvd is one request the stub hub received.
type rcvd struct {
	from    *net.UDPAddr
	typ     message.Type
	code    codes.Code
	mid     uint16
	token   []byte
	paths   []string // every Uri-Path option, in order
	auth    string   // option 61
	needRsp string   // option 62
	payload []byte
	raw     []byte
}

// stubHub is a small CoAP responder on plain UDP standing in for the hub's
// CoAP endpoint: it answers auth with a token and hands every other
// request to respond, which returns the datagrams to send back.
type stubHub struct {
	t  testing.TB
	pc *net.UDPConn

	mu       sync.Mutex
	token    string
	auths    int
	requests []rcvd
	respond  func(h *stubHub, r rcvd) [][]byte
	wg       sync.WaitGroup
}

func startStub(t testing.TB, respond func(h *stubHub, r rcvd) [][]byte) *stubHub {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	h := &stubHub{t: t, pc: pc, token: "TOKEN00001", respond: respond}
	h.wg.Go(h.serve)
	t.Cleanup(func() {
		_ = pc.Close()
		h.wg.Wait()
	})
	return h
}

func (h *stubHub) addr() string { return h.pc.LocalAddr().String() }

func (h *stubHub) serve() {
	buf := make([]byte, 65536)
	for {
		n, from, err := h.pc.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m := message.Message{Options: make(message.Options, 0, 16)}
		if _, err := coder.DefaultCoder.Decode(append([]byte(nil), buf[:n]...), &m); err != nil {
			continue
		}
		r := rcvd{from: from, typ: m.Type, code: m.Code, mid: uint16(m.MessageID), token: m.Token,
			payload: m.Payload, raw: append([]byte(nil), buf[:n]...)}
		for _, o := range m.Options {
			switch o.ID {
			case message.URIPath:
				r.paths = append(r.paths, string(o.Value))
			case OptAuthToken:
				r.auth = string(o.Value)
			case OptNeedResponse:
				r.needRsp = string(o.Value)
			}
		}
		h.mu.Lock()
		h.requests = append(h.requests, r)
		respond := h.respond
		h.mu.Unlock()
		var out [][]byte
		if m.Code == codes.POST && len(r.paths) == 1 && r.paths[0] == AuthPath(testPID, testDN) {
			h.mu.Lock()
			h.auths++
			tok := h.token
			h.mu.Unlock()
			out = [][]byte{h.ack(r, codes.Content, []byte(tok))}
		} else if respond != nil && m.Code != codes.Empty {
			out = respond(h, r)
		}
		for _, p := range out {
			_, _ = h.pc.WriteToUDP(p, from)
		}
	}
}

// ack is a piggy-backed response to r.
func (h *stubHub) ack(r rcvd, code codes.Code, payload []byte) []byte {
	return h.msg(message.Acknowledgement, code, r.mid, r.token, payload)
}

func (h *stubHub) msg(typ message.Type, code codes.Code, mid uint16, token, payload []byte) []byte {
	m := message.Message{Type: typ, Code: code, MessageID: int32(mid), Token: token, Payload: payload}
	size, err := coder.DefaultCoder.Size(m)
	require.NoError(h.t, err)
	b := make([]byte, size)
	_, err = coder.DefaultCoder.Encode(m, b)
	require.NoError(h.t, err)
	return b
}

// publishes returns the requests other than auth and empty messages.
func (h *stubHub) publishes() []rcvd {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []rcvd
	for _, r := range h.requests {
		if r.code == codes.POST && !(len(r.paths) == 1 && r.paths[0] == AuthPath(testPID, testDN)) {
			out = append(out, r)
		}
	}
	return out
}

func (h *stubHub) received() []rcvd {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]rcvd(nil), h.requests...)
}

func (h *stubHub) authCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.auths
}

// fastConfig retransmits quickly, with a random factor of 1, but not so
// quickly that a loaded machine's loopback answer comes too late.
func fastConfig() Config {
	return Config{ProductID: testPID, DeviceName: testDN, AckTimeout: 200 * time.Millisecond,
		MaxRetransmit: 3, Rand: func() float64 { return 0 }}
}

// device is an uplink on a bus, connected through the udp driver.
type device struct {
	bus    *bus.Bus
	link   *core.Link
	uplink *Uplink
	stop   func()
}

func startDevice(t testing.TB, addr string, cfg Config) *device {
	t.Helper()
	reg := core.NewRegistry()
	require.NoError(t, reg.Register(posix.NewUDP()))
	b, err := bus.New(bus.Config{}, nil)
	require.NoError(t, err)
	link, err := reg.OpenLink(core.LinkConfig{Driver: "udp", Address: addr, Transport: driver.Datagram,
		Backoff: core.BackoffConfig{Initial: core.Duration(10 * time.Millisecond), Max: core.Duration(50 * time.Millisecond)}},
		core.LinkOptions{OnState: b.PublishLinkState})
	require.NoError(t, err)
	return runDevice(t, b, link, cfg)
}

// runDevice runs an uplink over link on b until the test ends (or stop).
func runDevice(t testing.TB, b *bus.Bus, link *core.Link, cfg Config) *device {
	t.Helper()
	u, err := New(cfg, link, b, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
			_ = b.Close()
		})
	}
	t.Cleanup(stop)
	<-u.Serving()
	return &device{bus: b, link: link, uplink: u, stop: stop}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting for "+what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func publish(t testing.TB, d *device, topic string, payload []byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.bus.CloudPublish(ctx, topic, payload, 1)
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
