package bus

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// BenchmarkPublishDeliver measures messages/s from Publish to subscribers
// that Ack each message on receipt: one publisher goroutine, one topic, 1
// and 4 subscribers. The publisher keeps at most window messages ahead of
// the slowest subscriber, so that a bounded queue never fills: it measures
// throughput, not drops.
func BenchmarkPublishDeliver(b *testing.B) {
	forBackends(b, benchPublishDeliver)
}

func benchPublishDeliver(b *testing.B, open func(testing.TB) *Bus) {
	for _, subs := range []int{1, 4} {
		b.Run(map[int]string{1: "subs=1", 4: "subs=4"}[subs], func(b *testing.B) {
			bus := open(b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const window = 1024
			done := make(chan struct{}, subs)
			got := make([]atomic.Int64, subs)
			for i := range subs {
				ch, err := bus.Subscribe(ctx, "bench")
				if err != nil {
					b.Fatal(err)
				}
				go func() {
					n := 0
					for m := range ch {
						m.Ack()
						got[i].Add(1)
						if n++; n == b.N {
							done <- struct{}{}
						}
					}
				}()
			}
			payload := make([]byte, 256)
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				for j := range got {
					for int64(i)-got[j].Load() >= window {
						runtime.Gosched()
					}
				}
				if err := bus.Publish("bench", message.NewMessage(watermill.NewUUID(), payload)); err != nil {
					b.Fatal(err)
				}
			}
			for range subs {
				<-done
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// BenchmarkRequestReply measures round trips of Request to a Serve handler
// that replies at once.
func BenchmarkRequestReply(b *testing.B) {
	forBackends(b, benchRequestReply)
}

func benchRequestReply(b *testing.B, open func(testing.TB) *Bus) {
	bus := open(b)
	stop, err := bus.Serve(context.Background(), map[string]func(*message.Message){
		"svc": func(m *message.Message) { _ = bus.Reply(m, nil) },
	})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := bus.Request(ctx, "svc", message.NewMessage(watermill.NewUUID(), nil)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
