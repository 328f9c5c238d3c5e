package bench

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	_ "github.com/iotd/iotd/drivers/at/builtin" // every dialect
	"github.com/iotd/iotd/drivers/at/modem"
)

// lineRate is what a 115200-baud 8N1 line carries at most, in bytes per
// second (10 bit times per byte).
const lineRate = 115200 / 10

// atPayload is the MQTT payload of the AT benchmark: a telemetry message
// big enough that framing does not dominate.
const atPayload = 1024

// BenchmarkATGoodput publishes QoS 1 MQTT messages through each AT dialect
// on a simulated modem throttled to 115200 baud (paho over the modem's TCP
// socket, to a broker on loopback) and reports the payload goodput as a
// ratio of the line rate, 11 520 bytes/s: "line-ratio" 1 would mean every
// bit on the serial line was payload. Each publish is confirmed (PUBACK)
// before the time stops.
//
//	go test ./bench -run '^$' -bench ATGoodput -benchtime 100x
func BenchmarkATGoodput(b *testing.B) {
	addr, brokerName := startBroker(b)
	for _, d := range modem.Dialects() {
		b.Run(d, func(b *testing.B) {
			sim, err := atsim.Start(context.Background(), atsim.Config{Dialect: d, Baud: 115200})
			if err != nil {
				b.Fatal(err)
			}
			defer sim.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			m, err := modem.OpenModem(ctx, d, modem.Config{Port: sim.Path(), APN: "internet", SSID: "bench", WiFiPassword: "bench"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("at-bench-" + d).
				SetAutoReconnect(false).SetProtocolVersion(4).SetWriteTimeout(time.Minute).
				SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
					return m.Dial(ctx, driver.Stream, u.Host)
				})
			c := paho.NewClient(opts)
			if t := c.Connect(); !t.WaitTimeout(time.Minute) || t.Error() != nil {
				b.Fatalf("connect through %s: %v", d, t.Error())
			}
			defer c.Disconnect(100)
			msg := make([]byte, atPayload)
			for i := range msg {
				msg[i] = byte(i)
			}
			topic := fmt.Sprintf("bench/at/%s", d)
			// Warm up: one confirmed publish.
			if t := c.Publish(topic, 1, false, msg); !t.WaitTimeout(time.Minute) || t.Error() != nil {
				b.Fatalf("publish: %v", t.Error())
			}
			b.SetBytes(atPayload)
			prof := &lineProfile{lineEnd: 1}
			if d == "esp" {
				prof.lineEnd = 2
			}
			m.Engine().SetTracer(prof.event)
			b.ResetTimer()
			start := time.Now()
			tokens := make([]paho.Token, 0, b.N)
			for range b.N {
				tokens = append(tokens, c.Publish(topic, 1, false, msg))
			}
			for _, t := range tokens {
				if !t.WaitTimeout(5*time.Minute) || t.Error() != nil {
					b.Fatalf("publish: %v", t.Error())
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			m.Engine().SetTracer(nil)
			b.Log(prof.report(d, elapsed, b.N*atPayload))
			goodput := float64(b.N*atPayload) / elapsed.Seconds()
			b.ReportMetric(goodput, "payload-B/s")
			b.ReportMetric(goodput/lineRate, "line-ratio")
			b.Logf("%s via %s: %.0f B/s payload, %.2f of the 115200-baud line rate", d, brokerName, goodput, goodput/lineRate)
		})
	}
}

// lineProfile breaks the line time of the benchmark down by command: how
// long each kind of exchange held the line (from the command's write to
// the last byte read before the next command), the bytes each direction
// carried for it, and how long the line sat idle between exchanges. It
// reads the engine's trace (socket data shows there as "<N bytes: ...>").
type lineProfile struct {
	lineEnd int // bytes after each command line

	mu    sync.Mutex
	cur   string    // the exchange in progress
	start time.Time // its command's write
	last  time.Time // the last byte read or written for it
	per   map[string]*exchangeStat
	idle  time.Duration
	first time.Time
}

type exchangeStat struct {
	n              int
	held           time.Duration
	up, down, data int // command and payload bytes written, bytes read, payload
}

// traceBytes is the length of a traced crossing on the wire.
func traceBytes(ev at.TraceEvent, lineEnd int) int {
	if strings.HasPrefix(ev.Text, "<") {
		if n, err := strconv.Atoi(strings.Fields(ev.Text[1:])[0]); err == nil {
			return n
		}
	}
	switch ev.Kind {
	case at.TraceCommand:
		return len(ev.Text) + lineEnd
	case at.TracePrompt:
		return 2 + len(ev.Text) // CR LF before it, as the modules send it
	}
	return len(ev.Text) + 4 // CR LF on both sides
}

func (p *lineProfile) event(ev at.TraceEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.per == nil {
		p.per = map[string]*exchangeStat{}
	}
	n := traceBytes(ev, p.lineEnd)
	if ev.Kind == at.TraceCommand {
		if p.cur != "" {
			st := p.per[p.cur]
			st.held += p.last.Sub(p.start)
			p.idle += ev.Time.Sub(p.last)
		} else if !p.first.IsZero() {
			p.idle += ev.Time.Sub(p.last)
		}
		if p.first.IsZero() {
			p.first = ev.Time
		}
		name, _, _ := strings.Cut(ev.Text, "=")
		p.cur, p.start, p.last = name, ev.Time, ev.Time
		st := p.per[name]
		if st == nil {
			st = &exchangeStat{}
			p.per[name] = st
		}
		st.n++
		st.up += n
		return
	}
	if p.cur == "" {
		return
	}
	st := p.per[p.cur]
	switch {
	case ev.Out:
		st.up += n
		if ev.Kind == at.TracePayload {
			st.data += n
		}
	default:
		st.down += n
		if ev.Kind == at.TraceData {
			st.data += n
		}
	}
	p.last = ev.Time
}

// report says, for the elapsed time, how much of the line each kind of
// exchange held, and how much of that was the bytes it carried.
func (p *lineProfile) report(dialect string, elapsed time.Duration, payload int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != "" {
		p.per[p.cur].held += p.last.Sub(p.start)
	}
	byteTime := func(n int) float64 { return float64(n) / lineRate / elapsed.Seconds() }
	var b strings.Builder
	fmt.Fprintf(&b, "%s line profile over %v (shares of the elapsed time; app payload %.3f):\n", dialect, elapsed.Round(time.Millisecond), byteTime(payload))
	names := make([]string, 0, len(p.per))
	for name := range p.per {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return p.per[names[i]].held > p.per[names[j]].held })
	for _, name := range names {
		st := p.per[name]
		fmt.Fprintf(&b, "  %-16s x%-4d held %.3f: up %.3f (data %d B), down %.3f, data %.3f, waiting %.3f\n",
			name, st.n, st.held.Seconds()/elapsed.Seconds(), byteTime(st.up), st.data, byteTime(st.down), byteTime(st.data),
			st.held.Seconds()/elapsed.Seconds()-byteTime(max(st.up, st.down)))
	}
	fmt.Fprintf(&b, "  line idle between commands %.3f", p.idle.Seconds()/elapsed.Seconds())
	return b.String()
}
