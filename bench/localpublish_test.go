package bench

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/daemon"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/localapi"
)

// BenchmarkLocalPublish compares QoS 1 publishes of 256 bytes made by a
// separate process through the daemon's local API against a bare paho
// client, with the same broker, in one run. The daemon runs in the test
// process (uplink to the broker over TCP, pacing off, the outbox off: QoS 1
// held in memory until PUBACK, as paho holds it); the client is this test
// binary re-executed (localPublishChild), so the local API's cost is all
// there: the socket, JSON both ways, the second process's CPU. Two client
// paths, each measured in the child from before it connects to the last
// answer:
//
//   - stream: one POST /v1/publish/stream, messages pipelined
//     (localapi.PublishStream);
//   - single: POST /v1/publish per message, from 64 goroutines (the path
//     before the stream).
//
// Metrics: stream-msgs/s, single-msgs/s, paho-msgs/s, and each local API
// path divided by paho.
func BenchmarkLocalPublish(b *testing.B) {
	addr, name := startBroker(b)
	b.Logf("broker: %s", name)
	sock := startLocalDaemon(b, addr)

	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	ds := runLocalChild(b, sock, "stream", b.N)
	b.StopTimer()
	dsingle := runLocalChild(b, sock, "single", b.N)
	pc := newPaho(b, addr)
	defer pc.Disconnect(0)
	dp := publishPaho(b, pc, b.N, 1)

	stream, single, bare := float64(b.N)/ds.Seconds(), float64(b.N)/dsingle.Seconds(), float64(b.N)/dp.Seconds()
	b.ReportMetric(stream, "stream-msgs/s")
	b.ReportMetric(single, "single-msgs/s")
	b.ReportMetric(bare, "paho-msgs/s")
	b.ReportMetric(stream/bare, "stream/paho-ratio")
	b.ReportMetric(single/bare, "single/paho-ratio")
}

// startLocalDaemon runs iotd (one device, mqtt over tcp to addr, pacing
// and the outbox off) until the benchmark ends and returns its socket once
// the link is up.
func startLocalDaemon(b *testing.B, addr string) string {
	b.Helper()
	dir := b.TempDir()
	secret := base64.StdEncoding.EncodeToString([]byte("bench-secret-0123"))
	info := fmt.Sprintf(`{"auth_mode":"KEY","productId":"PBENCHLOC1","deviceName":"dev1","key_deviceinfo":{"deviceSecret":%q}}`, secret)
	sock := filepath.Join(dir, "iotd.sock")
	y := fmt.Sprintf(`device_info: device_info.json
socket: %s
link: {driver: tcp, endpoint: %s}
mqtt: {publish_rate: -1, queue_size: 100000}
outbox: {enabled: false}
`, sock, addr)
	for f, s := range map[string]string{"device_info.json": info, "iotd.yaml": y} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	cfg, err := daemon.LoadConfig(filepath.Join(dir, "iotd.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	reg := core.NewRegistry()
	if err := reg.Register(posix.NewTCP()); err != nil {
		b.Fatal(err)
	}
	d, err := daemon.New(cfg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	c := localapi.New(sock)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Status(context.Background())
		if err == nil && st.Link.State == localapi.LinkConnected {
			return sock
		}
		select {
		case err := <-done:
			b.Fatalf("iotd stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("iotd's link did not come up: %v %+v", err, st.Link)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The child process of BenchmarkLocalPublish: the test binary run with
// these variables publishes and prints the elapsed nanoseconds.
const (
	childEnvMode   = "IOTD_BENCH_LOCAL_MODE"
	childEnvSocket = "IOTD_BENCH_LOCAL_SOCKET"
	childEnvN      = "IOTD_BENCH_LOCAL_N"
)

func runLocalChild(b *testing.B, sock, mode string, n int) time.Duration {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestLocalPublishChild$", "-test.count", "1")
	cmd.Env = append(os.Environ(), childEnvMode+"="+mode, childEnvSocket+"="+sock, childEnvN+"="+strconv.Itoa(n))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("child (%s): %v\n%s", mode, err, out)
	}
	var ns int64
	if _, err := fmt.Sscanf(lastLine(out, "elapsed-ns "), "elapsed-ns %d", &ns); err != nil {
		b.Fatalf("child (%s): %v\n%s", mode, err, out)
	}
	return time.Duration(ns)
}

// lastLine is the last line of out that starts with prefix.
func lastLine(out []byte, prefix string) string {
	var found string
	start := 0
	for i := 0; i <= len(out); i++ {
		if i == len(out) || out[i] == '\n' {
			if l := string(out[start:i]); len(l) >= len(prefix) && l[:len(prefix)] == prefix {
				found = l
			}
			start = i + 1
		}
	}
	return found
}

// TestLocalPublishChild is the child's work; without the variables it does
// nothing.
func TestLocalPublishChild(t *testing.T) {
	mode := os.Getenv(childEnvMode)
	if mode == "" {
		t.Skip("the child process of BenchmarkLocalPublish")
	}
	n, err := strconv.Atoi(os.Getenv(childEnvN))
	if err != nil {
		t.Fatal(err)
	}
	c := localapi.New(os.Getenv(childEnvSocket))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// 256 bytes as paho's, printable: zero bytes would be \u0000 in JSON,
	// six bytes each.
	text := strings.Repeat("x", len(payload))
	start := time.Now()
	switch mode {
	case "stream":
		s, err := c.PublishStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer s.Close()
			for range n {
				if _, err := s.Send(localapi.PublishStreamRequest{PublishRequest: localapi.PublishRequest{Topic: "stream", Payload: text, QoS: 1}}); err != nil {
					return
				}
			}
		}()
		got := 0
		for r, err := range s.Results() {
			if err != nil {
				t.Fatal(err)
			}
			if r.Result != localapi.Acknowledged {
				t.Fatalf("line %d: %s %s", r.Line, r.Result, r.Error)
			}
			got++
		}
		if got != n {
			t.Fatalf("%d results for %d messages", got, n)
		}
	case "single":
		var next atomic.Int64
		var failed atomic.Value
		var wg sync.WaitGroup
		for range publishers {
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					if _, err := c.Publish(ctx, localapi.PublishRequest{Topic: "single", Payload: text, QoS: 1}); err != nil {
						failed.Store(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("mode %q", mode)
	}
	fmt.Printf("elapsed-ns %d\n", time.Since(start).Nanoseconds())
}
