// Package mosquittotest runs a real mosquitto broker for tests, as a
// separate process that can be killed and started again on the same port.
package mosquittotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iotd/iotd/internal/peers"
)

// Options shape a broker.
type Options struct {
	// Durable turns persistence on and makes Stop graceful (SIGTERM), so
	// that mosquitto saves the queues of persistent sessions.
	Durable bool
	// Extra lines for mosquitto.conf, e.g. "max_packet_size 65536\n".
	Extra string
}

// Broker is a mosquitto process listening on a loopback port.
type Broker struct {
	addr, conf string
	bin        string // the mosquitto program
	durable    bool
	mu         sync.Mutex
	cmd        *exec.Cmd
	exited     chan struct{}
	log        *bytes.Buffer
}

// Start starts mosquitto on a free loopback port and stops it when the test
// ends. Without the binary the test is skipped, except under CI=true, where
// it fails: CI must install it.
func Start(t testing.TB, o Options) *Broker {
	t.Helper()
	bin := peers.Need(t, peers.Mosquitto)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	persistence := "persistence false\n"
	if o.Durable {
		persistence = fmt.Sprintf("persistence true\npersistence_location %s/\n", dir)
		// Run as root, mosquitto switches to the "mosquitto" user, which
		// cannot write into the test's private directory; stay who we are.
		if u, err := user.Current(); err == nil {
			persistence += "user " + u.Username + "\n"
		}
	}
	text := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\n%smax_queued_messages 100000\nlog_dest none\n%s", port, persistence, o.Extra)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &Broker{addr: addr, conf: conf, bin: bin, durable: o.Durable}
	b.Start(t)
	t.Cleanup(func() { b.Stop(t) })
	return b
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

// Start starts the broker again on the same address, after Stop.
func (b *Broker) Start(t testing.TB) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
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

// Stop kills mosquitto and waits for it to exit: SIGKILL (connections cut,
// nothing saved), or SIGTERM for a durable broker.
func (b *Broker) Stop(t testing.TB) {
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
