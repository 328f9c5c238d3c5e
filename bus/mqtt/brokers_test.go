package mqtt

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// Real brokers for the tests: mochi-mqtt in process, and mosquitto as a
// separate process that can be killed with SIGKILL and restarted on the same
// port.

// broker is a running MQTT broker on loopback.
type broker interface {
	Addr() string
	// Stop ends the broker abruptly (connections cut, no DISCONNECT).
	Stop(t *testing.T)
	// Start starts it again on the same address.
	Start(t *testing.T)
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

func (b *mochiBroker) Start(t *testing.T) {
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

func (b *mochiBroker) Stop(t *testing.T) {
	b.mu.Lock()
	srv, l := b.srv, b.l
	b.srv, b.l = nil, nil
	b.mu.Unlock()
	if srv != nil {
		closeMochi(srv, l)
	}
}

type mosquittoBroker struct {
	addr, conf string
	durable    bool
	mu         sync.Mutex
	cmd        *exec.Cmd
	exited     chan struct{}
	log        *bytes.Buffer
}

// startMosquitto starts mosquitto on a free loopback port. Without the
// binary the test is skipped, except under CI=true, where it fails.
func startMosquitto(t *testing.T) *mosquittoBroker {
	t.Helper()
	return startMosquittoWith(t, false)
}

// startMosquittoWith starts mosquitto; durable turns persistence on and
// makes Stop graceful (SIGTERM), so that mosquitto saves its queues.
func startMosquittoWith(t *testing.T, durable bool) *mosquittoBroker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mosquitto not found (CI=true): install it with `apt-get install -y mosquitto`")
		}
		t.Skip("mosquitto not installed; `apt-get install -y mosquitto` to run this test")
	}
	_ = bin
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	persistence := "persistence false\n"
	if durable {
		// Saved on a graceful stop, so queued messages for persistent
		// sessions survive the restart.
		persistence = fmt.Sprintf("persistence true\npersistence_location %s/\n", dir)
		// Run as root, mosquitto switches to the "mosquitto" user, which
		// cannot write into the test's private directory; stay who we are.
		if u, err := user.Current(); err == nil {
			persistence += "user " + u.Username + "\n"
		}
	}
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(
		"listener %s 127.0.0.1\nallow_anonymous true\n%smax_queued_messages 10000\nlog_dest none\n", port, persistence)), 0o600))
	b := &mosquittoBroker{addr: addr, conf: conf, durable: durable}
	b.Start(t)
	t.Cleanup(func() { b.Stop(t) })
	return b
}

func (b *mosquittoBroker) Addr() string { return b.addr }

func (b *mosquittoBroker) Start(t *testing.T) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command("mosquitto", "-c", b.conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.mu.Lock()
	b.cmd, b.exited, b.log = cmd, exited, &out
	b.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("mosquitto exited at start: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v", b.addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills mosquitto and waits for it to exit: SIGKILL, or SIGTERM for a
// durable broker.
func (b *mosquittoBroker) Stop(t *testing.T) {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	sig := syscall.SIGKILL
	if b.durable {
		sig = syscall.SIGTERM
	}
	_ = cmd.Process.Signal(sig)
	<-exited
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
