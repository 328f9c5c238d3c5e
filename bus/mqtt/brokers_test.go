package mqtt

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/internal/mosquittotest"
)

// Real brokers for the tests: mochi-mqtt in process, and mosquitto as a
// separate process that can be killed with SIGKILL and restarted on the same
// port.

// broker is a running MQTT broker on loopback.
type broker interface {
	Addr() string
	// Stop ends the broker abruptly (connections cut, no DISCONNECT).
	Stop(t testing.TB)
	// Start starts it again on the same address.
	Start(t testing.TB)
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// refuseHook refuses the username "bad" at CONNECT and subscriptions to
// filters under "forbidden/".
type refuseHook struct{ mochi.HookBase }

func (h *refuseHook) ID() string { return "refuse" }
func (h *refuseHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *refuseHook) OnConnectAuthenticate(cl *mochi.Client, pk mpackets.Packet) bool {
	return string(pk.Connect.Username) != "bad"
}
func (h *refuseHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	return !strings.HasPrefix(topic, "forbidden/")
}

type mochiBroker struct {
	addr string
	mu   sync.Mutex
	srv  *mochi.Server
	l    *listeners.TCP
}

// startMochi starts an in-process mochi broker on addr ("" = a free port).
func startMochi(t *testing.T, addr string) *mochiBroker {
	t.Helper()
	if addr == "" {
		addr = freePort(t)
	}
	b := &mochiBroker{addr: addr}
	b.Start(t)
	t.Cleanup(func() { b.Stop(t) })
	return b
}

func (b *mochiBroker) Addr() string { return b.addr }

func (b *mochiBroker) Start(t testing.TB) {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, srv.AddHook(new(refuseHook), nil))
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: b.addr})
	require.NoError(t, srv.AddListener(l))
	require.NoError(t, srv.Serve())
	// Wait until the accept loop runs: closing mochi before that races
	// inside mochi.
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.addr).SetClientID("probe"))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	c.Disconnect(0)
	b.mu.Lock()
	b.srv, b.l = srv, l
	b.mu.Unlock()
}

func (b *mochiBroker) Stop(t testing.TB) {
	b.mu.Lock()
	srv, l := b.srv, b.l
	b.srv, b.l = nil, nil
	b.mu.Unlock()
	if srv != nil {
		closeMochi(srv, l)
	}
}

// startMosquitto starts mosquitto on a free loopback port (see
// mosquittotest.Start).
func startMosquitto(t *testing.T) *mosquittotest.Broker {
	return mosquittotest.Start(t, mosquittotest.Options{})
}

// startMosquittoWith starts mosquitto; durable turns persistence on and
// makes Stop graceful, so that mosquitto saves its queues.
func startMosquittoWith(t *testing.T, durable bool) *mosquittotest.Broker {
	return mosquittotest.Start(t, mosquittotest.Options{Durable: durable})
}

// startMosquittoConf starts mosquitto with extra configuration lines (real
// limits such as max_packet_size).
func startMosquittoConf(t *testing.T, durable bool, extra string) *mosquittotest.Broker {
	return mosquittotest.Start(t, mosquittotest.Options{Durable: durable, Extra: extra})
}

// brokers lists the peers a test runs against.
func brokers() []struct {
	name  string
	start func(t *testing.T) broker
} {
	return []struct {
		name  string
		start func(t *testing.T) broker
	}{
		{name: "mochi", start: func(t *testing.T) broker { return startMochi(t, "") }},
		{name: "mosquitto", start: func(t *testing.T) broker { return startMosquitto(t) }},
	}
}

// peer is a bare paho client on the far side of the broker, standing in for
// the cloud application.
type peer struct {
	client paho.Client
	mu     sync.Mutex
	got    map[string][]string // topic → payloads
}

func newPeer(t *testing.T, addr, id string) *peer {
	t.Helper()
	p := &peer{got: map[string][]string{}}
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	p.client = paho.NewClient(opts)
	tok := p.client.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "peer connect timed out")
	require.NoError(t, tok.Error())
	t.Cleanup(func() { p.client.Disconnect(0) })
	return p
}

func (p *peer) subscribe(t *testing.T, filter string, qos byte) {
	t.Helper()
	tok := p.client.Subscribe(filter, qos, func(_ paho.Client, m paho.Message) {
		p.mu.Lock()
		p.got[m.Topic()] = append(p.got[m.Topic()], string(m.Payload()))
		p.mu.Unlock()
	})
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
}

func (p *peer) publish(t *testing.T, topic string, qos byte, payload string) {
	t.Helper()
	tok := p.client.Publish(topic, qos, false, payload)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
}

func (p *peer) received(topic string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got[topic]...)
}

// waitFor polls cond until it holds or the test's patience ends.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
