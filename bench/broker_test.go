package bench

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	mpackets "github.com/mochi-mqtt/server/v2/packets"
)

// startBroker starts mosquitto on a free loopback port when it is installed,
// else an in-process mochi broker, and returns its address and name.
func startBroker(b *testing.B) (addr, name string) {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr = l.Addr().String()
	_ = l.Close()
	if _, err := exec.LookPath("mosquitto"); err == nil {
		_, port, _ := net.SplitHostPort(addr)
		conf := filepath.Join(b.TempDir(), "mosquitto.conf")
		cfg := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 100000\nlog_dest none\n", port)
		if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command("mosquitto", "-c", conf)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
		for i := 0; ; i++ {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				_ = c.Close()
				return addr, "mosquitto"
			}
			if i > 500 {
				b.Fatalf("mosquitto did not start: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(allowHook), nil); err != nil {
		b.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		b.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	return addr, "mochi"
}

// allowHook lets every client connect and use every topic.
type allowHook struct{ mochi.HookBase }

func (h *allowHook) ID() string { return "allow" }
func (h *allowHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (h *allowHook) OnConnectAuthenticate(*mochi.Client, mpackets.Packet) bool { return true }
func (h *allowHook) OnACLCheck(*mochi.Client, string, bool) bool               { return true }
