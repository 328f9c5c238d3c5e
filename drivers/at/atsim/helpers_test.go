package atsim_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/serial"
)

// guard bounds every wait so that a bug hangs nothing; not a measurement.
const guard = 10 * time.Second

// sendFinals are the vendor finals the dialects use.
var sendFinals = []at.Final{{Text: "SEND OK"}, {Text: "SEND FAIL", Fail: true}}

// start runs a modem and an AT engine on its pty, through drivers/serial.
func start(t *testing.T, cfg atsim.Config, opts at.Options) (*atsim.Modem, *at.Engine) {
	t.Helper()
	m, err := atsim.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	port, err := serial.Open(serial.Config{Name: m.Path()})
	require.NoError(t, err)
	opts.Finals = append(opts.Finals, sendFinals...)
	e := at.New(port, opts)
	t.Cleanup(func() { e.Close() })
	return m, e
}

func do(t *testing.T, e *at.Engine, c at.Command) *at.Response {
	t.Helper()
	if c.Timeout == 0 {
		c.Timeout = guard
	}
	r, err := e.Do(context.Background(), c)
	require.NoError(t, err, "command %s", c.Text)
	return r
}

func run(t *testing.T, e *at.Engine, text string) *at.Response {
	t.Helper()
	return do(t, e, at.Command{Text: text})
}

func fails(t *testing.T, e *at.Engine, text string) error {
	t.Helper()
	_, err := e.Do(context.Background(), at.Command{Text: text, Timeout: guard})
	require.Error(t, err, "command %s", text)
	return err
}

// urcs collects the lines of URCs with a prefix.
type urcs struct {
	ch chan string
}

func watch(t *testing.T, e *at.Engine, prefix string) *urcs {
	t.Helper()
	u := &urcs{ch: make(chan string, 64)}
	require.NoError(t, e.HandleURC(at.URC{Prefix: prefix, Line: func(l string) int { u.ch <- l; return 0 }}))
	return u
}

func (u *urcs) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-u.ch:
		return l
	case <-time.After(guard):
		t.Fatal("no URC arrived")
		return ""
	}
}

// waitFor reads URCs until one equals want.
func (u *urcs) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(guard)
	for {
		select {
		case l := <-u.ch:
			if l == want {
				return
			}
		case <-deadline:
			t.Fatalf("URC %q did not arrive", want)
		}
	}
}

// peer is a real TCP echo server on loopback that can also close its
// connections and tell when they were closed by the modem.
type peer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	acc   chan net.Conn
	eof   chan struct{} // one value per connection the modem closed
}

func newPeer(t testing.TB) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &peer{ln: ln, acc: make(chan net.Conn, 16), eof: make(chan struct{}, 16)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			p.acc <- c
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := io.Copy(c, c)
				if err == nil || errors.Is(err, io.EOF) {
					p.eof <- struct{}{}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *peer) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *peer) accepted(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-p.acc:
		return c
	case <-time.After(guard):
		t.Fatal("the peer accepted no connection")
		return nil
	}
}

func (p *peer) sawEOF(t *testing.T) {
	t.Helper()
	select {
	case <-p.eof:
	case <-time.After(guard):
		t.Fatal("the peer saw no EOF")
	}
}

// refusedPort is a loopback port nobody listens on.
func refusedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// nasty is data a line-based reader would break.
var nasty = []byte("\r\nOK\r\n\x00\x1a+CME ERROR: 3\r\nERROR\r\n> @\xff\"")

// lastInt is the last comma-separated number of a line.
func lastInt(l string) int {
	i := strings.LastIndexAny(l, ", ")
	n, err := strconv.Atoi(strings.TrimSpace(strings.Trim(l[i+1:], ":")))
	if err != nil {
		return 0
	}
	return n
}

func timeAfterGuard() <-chan time.Time { return time.After(guard) }

func asTimeout(err error, target *interface{ Timeout() bool }) bool { return errors.As(err, target) }

// udpEcho is a UDP echo server on loopback.
type udpEcho struct{ pc net.PacketConn }

func newUDPEcho(t *testing.T) *udpEcho {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 65536)
		for {
			n, a, err := pc.ReadFrom(b)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(b[:n], a)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return &udpEcho{pc: pc}
}

func (u *udpEcho) port() int { return u.pc.LocalAddr().(*net.UDPAddr).Port }
