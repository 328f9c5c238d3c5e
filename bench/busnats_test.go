package bench

import (
	"context"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsbus/natstest"
	"github.com/iotd/iotd/bus/natsconf"
)

// BenchmarkBusNATS compares the bus's two backends on one workload, side
// by side in one run: one goroutine publishes b.N messages of 256 bytes to
// one topic and one subscriber receives and acks each; the rate is from
// the first publish to the last ack. The peer is package bus's default
// in-process backend; the other is bus/natsbus (what `bus: {backend:
// nats}` uses; the benchmark opens it directly, so it needs no build tag)
// on an embedded nats-server in this process, reached over loopback TCP,
// with the stream as a deployment keeps it: file storage (in the test's
// temporary directory), one replica, interest retention. A NATS publish
// returns once the stream stored the message, so one publisher waits for
// that round trip each time; the in-process publish only queues. The
// publisher keeps at most 1024 messages ahead of the subscriber, so that
// the in-process bus's bounded queue never drops one.
func BenchmarkBusNATS(b *testing.B) {
	srv := natstest.Run(b)
	b.Logf("nats-server %s, JetStream file storage under %s", srv.ClientURL(), os.TempDir())
	inproc, err := bus.New(bus.Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer inproc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ps, err := natsbus.Open(ctx, natsconf.Config{URL: srv.ClientURL(), Storage: "file"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	onNATS, err := bus.NewRemote(bus.Config{}, nil, ps)
	if err != nil {
		b.Fatal(err)
	}
	defer onNATS.Close()

	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	dn := publishAcked(b, onNATS, b.N)
	di := publishAcked(b, inproc, b.N)
	b.StopTimer()

	natsRate := float64(b.N) / dn.Seconds()
	inprocRate := float64(b.N) / di.Seconds()
	b.ReportMetric(natsRate, "nats-msgs/s")
	b.ReportMetric(inprocRate, "inproc-msgs/s")
	b.ReportMetric(natsRate/inprocRate, "nats/inproc-ratio")
}

// publishAcked publishes n messages on a topic of bb that one subscriber
// acks, and returns the time from the first publish to the last ack.
func publishAcked(b *testing.B, bb *bus.Bus, n int) time.Duration {
	b.Helper()
	const window = 1024
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := bb.Subscribe(ctx, "bench.busnats")
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		for m := range ch {
			m.Ack()
			if got.Add(1) == int64(n) {
				close(done)
			}
		}
	}()
	start := time.Now()
	for i := range n {
		for int64(i)-got.Load() >= window {
			runtime.Gosched()
		}
		if err := bb.Publish("bench.busnats", message.NewMessage(watermill.NewUUID(), payload)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("the subscriber got %d of %d messages", got.Load(), n)
	}
	return time.Since(start)
}
