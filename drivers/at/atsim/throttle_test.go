package atsim_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/drivers/serial"
)

// TestThrottledRoundTrip: pacing must not change a byte. How fast the
// line runs is logged, never asserted.
func TestThrottledRoundTrip(t *testing.T) {
	p := newPeer(t)
	m, e := quectelUp(t, atsim.Config{Baud: 115200})
	begin := time.Now()
	st0 := m.Stats()
	roundTrip(t, e, p, 0, append(allBytes(), allBytes()...))
	st := m.Stats()
	wire := (st.BytesIn - st0.BytesIn) + (st.BytesOut - st0.BytesOut)
	t.Logf("throttled at 115200 baud: %d bytes on the wire in %v (%.0f B/s; the line carries 11520 B/s each way)",
		wire, time.Since(begin), float64(wire)/time.Since(begin).Seconds())
}

// BenchmarkQuectelSend sends 1460-byte chunks through AT+QISEND at full
// speed and at 115200 baud, and reports the payload rate and, when
// throttled, its ratio to the line rate (baud/10 bytes/s).
func BenchmarkQuectelSend(b *testing.B) {
	for _, baud := range []int{0, 115200} {
		b.Run(fmt.Sprintf("baud=%d", baud), func(b *testing.B) {
			p := newPeer(b)
			m, err := atsim.Start(context.Background(), atsim.Config{Dialect: atsim.DialectQuectel, Baud: baud})
			require.NoError(b, err)
			defer m.Close()
			port, err := serial.Open(serial.Config{Name: m.Path()})
			require.NoError(b, err)
			e := at.New(port, at.Options{Finals: sendFinals})
			defer e.Close()
			ctx := context.Background()
			for _, c := range []string{"ATE0", "AT+QIACT=1"} {
				_, err := e.Do(ctx, at.Command{Text: c, Timeout: guard})
				require.NoError(b, err)
			}
			r, err := e.Do(ctx, at.Command{Text: fmt.Sprintf(`AT+QIOPEN=1,0,"TCP","127.0.0.1",%d,0,0`, p.port()),
				Timeout: guard, Await: func(l string) bool { return l == "+QIOPEN: 0,0" }})
			require.NoError(b, err, "open: %v", r)
			chunk := make([]byte, 1460)
			for i := range chunk {
				chunk[i] = byte(i)
			}
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				_, err := e.Do(ctx, at.Command{Text: "AT+QISEND=0,1460", Payload: chunk, Timeout: guard})
				require.NoError(b, err)
			}
			rate := float64(b.N*len(chunk)) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "payload-B/s")
			if baud > 0 {
				b.ReportMetric(rate/float64(baud/10), "of-line-rate")
			}
		})
	}
}
