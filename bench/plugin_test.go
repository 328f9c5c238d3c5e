package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/plugins"
)

// The plugin benchmarks compare the tcp driver served through the plugin
// boundary (plugins/internal/testplugin: drivers/posix in a child process,
// each connection's bytes on a Unix socket of its own) with the same driver
// in process, over one loopback TCP echo, alternating the two in every
// iteration:
//
//	go test ./bench -run '^$' -bench Plugin -benchtime 3s
//
// With IOTD_TESTPLUGIN_CPUPROFILE=FILE the plugin process writes its CPU
// profile to FILE (the last plugin the run started), for -cpuprofile's
// other half.
//
// Metrics: "plugin-MB/s" and "inproc-MB/s" echo 1 MiB per iteration
// (written in 32 KiB or 256 KiB writes and read back concurrently),
// "plugin/inproc-throughput" divides them; "plugin-µs/rtt" and "inproc-µs/rtt" time a 16-byte round trip,
// "plugin/inproc-rtt" divides them.

// pluginTCP launches the test plugin and opens both tcp dialers.
func pluginTCP(b *testing.B) (remote, local driver.Dialer) {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "iotd-driver-test")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/iotd/iotd/plugins/internal/testplugin")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build the test plugin: %v\n%s", err, out)
	}
	opts := plugins.Options{Logger: slog.New(slog.DiscardHandler)}
	if f := os.Getenv("IOTD_TESTPLUGIN_CPUPROFILE"); f != "" {
		opts.Env = append(opts.Env, "IOTD_TESTPLUGIN_CPUPROFILE="+f) // the plugin's side of -cpuprofile
	}
	p, err := plugins.Load(context.Background(), bin, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	for _, d := range p.Drivers() {
		if d.Name() == "tcp" {
			if remote, err = d.Open(nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	if local, err = posix.NewTCP().Open(nil); err != nil {
		b.Fatal(err)
	}
	return remote, local
}

// echoServer echoes on loopback until the benchmark ends.
func echoServer(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

func dialBoth(b *testing.B) (remote, local driver.Conn) {
	b.Helper()
	rd, ld := pluginTCP(b)
	addr := echoServer(b)
	var err error
	if remote, err = rd.Dial(context.Background(), driver.Stream, addr); err != nil {
		b.Fatal(err)
	}
	if local, err = ld.Dial(context.Background(), driver.Stream, addr); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { remote.Close(); local.Close() })
	return remote, local
}

// transfer writes n bytes in 32 KiB writes while reading the echo, and
// returns how long the round trip of all of it took.
func transfer(b *testing.B, c driver.Conn, buf []byte, n int) time.Duration {
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		for sent := 0; sent < n; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	rbuf := make([]byte, 64<<10)
	for got := 0; got < n; {
		k, err := c.Read(rbuf)
		if err != nil {
			b.Fatal(err)
		}
		got += k
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func BenchmarkPluginThroughput(b *testing.B) {
	// Each Write through the plugin returns once the driver in the plugin
	// has taken the bytes, so the write size matters: small writes pay a
	// round trip each.
	for _, size := range []int{32 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("write=%dKiB", size>>10), func(b *testing.B) {
			remote, local := dialBoth(b)
			const n = 1 << 20
			buf := make([]byte, size)
			var tr, tl time.Duration
			b.ResetTimer()
			for range b.N {
				tr += transfer(b, remote, buf, n)
				tl += transfer(b, local, buf, n)
			}
			mb := float64(b.N) * n / 1e6
			b.ReportMetric(mb/tr.Seconds(), "plugin-MB/s")
			b.ReportMetric(mb/tl.Seconds(), "inproc-MB/s")
			b.ReportMetric(tl.Seconds()/tr.Seconds(), "plugin/inproc-throughput")
		})
	}
}

func BenchmarkPluginRoundTrip(b *testing.B) {
	remote, local := dialBoth(b)
	msg := make([]byte, 16)
	rbuf := make([]byte, 16)
	rtt := func(c driver.Conn) time.Duration {
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, rbuf); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var tr, tl time.Duration
	b.ResetTimer()
	for range b.N {
		tr += rtt(remote)
		tl += rtt(local)
	}
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(us(tr), "plugin-µs/rtt")
	b.ReportMetric(us(tl), "inproc-µs/rtt")
	b.ReportMetric(tr.Seconds()/tl.Seconds(), "plugin/inproc-rtt")
}
