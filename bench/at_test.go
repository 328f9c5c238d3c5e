package bench

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotd/iotd/core/driver"
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
			goodput := float64(b.N*atPayload) / elapsed.Seconds()
			b.ReportMetric(goodput, "payload-B/s")
			b.ReportMetric(goodput/lineRate, "line-ratio")
			b.Logf("%s via %s: %.0f B/s payload, %.2f of the 115200-baud line rate", d, brokerName, goodput, goodput/lineRate)
		})
	}
}
