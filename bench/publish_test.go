package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/bus/outbox"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
	"github.com/iotd/iotd/drivers/posix"
)

// publishers is how many goroutines call bus.CloudPublish at once; each call
// waits for its reply, so this is the request concurrency on the iotd side.
const publishers = 64

var payload = make([]byte, 256)

// iotd is a running uplink for the benchmarks.
type iotd struct {
	bus   *bus.Bus
	link  *core.Link
	up    *mqtt.Uplink
	times *linkTimes
	stop  func()
}

// linkTimes are when a link first started to dial and first reported
// "connected"; connected is closed then.
type linkTimes struct {
	dialing   time.Time
	ready     time.Time
	connected chan struct{}
}

// newLink opens a tcp link to addr whose states go to bb and are timed.
func newLink(b *testing.B, addr string, bb *bus.Bus) (*core.Link, *linkTimes) {
	b.Helper()
	reg := core.NewRegistry()
	if err := reg.Register(posix.NewTCP()); err != nil {
		b.Fatal(err)
	}
	lt := &linkTimes{connected: make(chan struct{})}
	var once sync.Once
	link, err := reg.OpenLink(core.LinkConfig{Driver: "tcp", Address: addr}, core.LinkOptions{OnState: func(s linkstate.State) {
		if s.State == linkstate.Connecting && lt.dialing.IsZero() {
			lt.dialing = time.Now()
		}
		if s.State == linkstate.Connected {
			once.Do(func() { lt.ready = time.Now(); close(lt.connected) })
		}
		bb.PublishLinkState(s)
	}})
	if err != nil {
		b.Fatal(err)
	}
	return link, lt
}

var clientSeq atomic.Int64

func credentials() (core.Credentials, error) {
	id := fmt.Sprintf("bench-%d", clientSeq.Add(1))
	return core.Credentials{ClientID: id, Username: id}, nil
}

// startUplink runs an uplink with default settings against addr and waits
// until its MQTT session is up.
func startUplink(b *testing.B, addr string, bb *bus.Bus) *iotd {
	b.Helper()
	return startUplinkWith(b, addr, bb, mqtt.Config{})
}

// startUplinkWith is startUplink with cfg (its Credentials are set here).
func startUplinkWith(b *testing.B, addr string, bb *bus.Bus, cfg mqtt.Config) *iotd {
	b.Helper()
	link, times := newLink(b, addr, bb)
	cfg.Credentials = credentials
	up, err := mqtt.New(cfg, link, bb, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- up.Run(ctx) }()
	select {
	case <-times.connected:
	case err := <-done:
		b.Fatalf("uplink stopped: %v", err)
	}
	return &iotd{bus: bb, link: link, up: up, times: times, stop: func() { cancel(); <-done }}
}

func newPaho(b *testing.B, addr string) paho.Client {
	b.Helper()
	id, _ := credentials()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id.ClientID).
		SetAutoReconnect(false).SetProtocolVersion(4))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("paho connect: %v", tok.Error())
	}
	return c
}

// publishIOTD sends n messages through bus.CloudPublish from `publishers`
// goroutines and returns the elapsed time.
func publishIOTD(b *testing.B, bb *bus.Bus, n int, qos byte) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range publishers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := bb.CloudPublish(ctx, "bench/iotd", payload, qos); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return d
}

// publishPaho sends n messages with a bare paho client, the way paho is
// meant to be driven (async tokens), and returns the elapsed time.
func publishPaho(b *testing.B, c paho.Client, n int, qos byte) time.Duration {
	b.Helper()
	toks := make([]paho.Token, n)
	start := time.Now()
	for i := range toks {
		toks[i] = c.Publish("bench/paho", qos, false, payload)
	}
	for _, t := range toks {
		if !t.WaitTimeout(time.Minute) || t.Error() != nil {
			b.Fatalf("paho publish: %v", t.Error())
		}
	}
	return time.Since(start)
}

func benchPublish(b *testing.B, qos byte) {
	addr, name := startBroker(b)
	bb, err := bus.New(bus.Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bb.Close()
	u := startUplink(b, addr, bb)
	defer u.stop()
	pc := newPaho(b, addr)
	defer pc.Disconnect(0)
	b.Logf("broker: %s", name)

	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	di := publishIOTD(b, bb, b.N, qos)
	b.StopTimer()
	dp := publishPaho(b, pc, b.N, qos)

	iotdRate := float64(b.N) / di.Seconds()
	pahoRate := float64(b.N) / dp.Seconds()
	b.ReportMetric(iotdRate, "iotd-msgs/s")
	b.ReportMetric(pahoRate, "paho-msgs/s")
	b.ReportMetric(iotdRate/pahoRate, "iotd/paho-ratio")
}

// BenchmarkPublishQoS0 compares QoS 0 publishes of 256 bytes.
func BenchmarkPublishQoS0(b *testing.B) { benchPublish(b, 0) }

// BenchmarkPublishQoS1 compares QoS 1 publishes of 256 bytes.
func BenchmarkPublishQoS1(b *testing.B) { benchPublish(b, 1) }

// BenchmarkConnectToReady measures a connection: from the link's dial to
// its "connected" (TCP dial, MQTT CONNECT→CONNACK, the session announced),
// against a bare paho Connect (its own dial, CONNECT→CONNACK). "iotd-ms/start"
// is the whole start of a fresh uplink around it (the registry, the uplink,
// its bus subscriptions), which a device pays once, not on reconnects.
func BenchmarkConnectToReady(b *testing.B) {
	addr, name := startBroker(b)
	bb, err := bus.New(bus.Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bb.Close()
	b.Logf("broker: %s", name)

	var iotdTotal, startTotal, pahoTotal time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		u := startUplink(b, addr, bb)
		startTotal += time.Since(start)
		iotdTotal += u.times.ready.Sub(u.times.dialing)
		b.StopTimer()
		u.stop()

		start = time.Now()
		pc := newPaho(b, addr)
		pahoTotal += time.Since(start)
		pc.Disconnect(0)
		b.StartTimer()
	}
	b.StopTimer()
	iotdMs := float64(iotdTotal.Microseconds()) / 1000 / float64(b.N)
	pahoMs := float64(pahoTotal.Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(float64(startTotal.Microseconds())/1000/float64(b.N), "iotd-ms/start")
	b.ReportMetric(iotdMs, "iotd-ms/connect")
	b.ReportMetric(pahoMs, "paho-ms/connect")
	b.ReportMetric(iotdMs/pahoMs, "iotd/paho-ratio")
}

// BenchmarkPublishQoS1Durable compares QoS 1 publishes of 256 bytes through
// the durable outbox (fsync before "stored", group commit, removal on
// PUBACK) with the in-memory path and a bare paho client, in one run.
func BenchmarkPublishQoS1Durable(b *testing.B) {
	addr, name := startBroker(b)
	b.Logf("broker: %s", name)
	run := func(cfg mqtt.Config) time.Duration {
		bb, err := bus.New(bus.Config{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer bb.Close()
		u := startUplinkWith(b, addr, bb, cfg)
		defer u.stop()
		return publishIOTD(b, bb, b.N, 1)
	}
	box, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"), outbox.Options{Sync: outbox.SyncAlways, MaxMessages: max(b.N, 10000)})
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()

	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	dd := run(mqtt.Config{Outbox: box})
	b.StopTimer()
	dm := run(mqtt.Config{})
	pc := newPaho(b, addr)
	defer pc.Disconnect(0)
	dp := publishPaho(b, pc, b.N, 1)

	durable, memory, bare := float64(b.N)/dd.Seconds(), float64(b.N)/dm.Seconds(), float64(b.N)/dp.Seconds()
	b.ReportMetric(durable, "durable-msgs/s")
	b.ReportMetric(memory, "memory-msgs/s")
	b.ReportMetric(bare, "paho-msgs/s")
	b.ReportMetric(durable/bare, "durable/paho-ratio")
	b.ReportMetric(memory/bare, "memory/paho-ratio")
}
