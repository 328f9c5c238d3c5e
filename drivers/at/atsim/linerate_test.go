package atsim

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/iotd/iotd/drivers/serial"
)

// BenchmarkLineRate moves 16 KiB each way through a modem throttled to
// 115200 baud and reports each direction's rate as a ratio of the line
// rate (11 520 bytes/s): 1 is a line that carries bytes back to back.
// Rates are reported, never asserted.
func BenchmarkLineRate(b *testing.B) {
	const baud, n = 115200, 16 << 10
	m, err := Start(context.Background(), Config{Dialect: DialectQuectel, Baud: baud})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	port, err := serial.Open(serial.Config{Name: m.Path()})
	if err != nil {
		b.Fatal(err)
	}
	defer port.Close()
	m.mu.Lock()
	m.echo = false // the input is not sent back
	m.mu.Unlock()
	drain(port) // the boot banner
	lineRate := float64(baud / 10)
	b.Run("host-to-module", func(b *testing.B) {
		in := bytes.Repeat([]byte("x"), n) // no CR: no command, no answer
		for b.Loop() {
			st0 := m.Stats().BytesIn
			if _, err := port.Write(in); err != nil {
				b.Fatal(err)
			}
			for m.Stats().BytesIn-st0 < n {
				time.Sleep(time.Millisecond)
			}
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds()/lineRate, "of-line-rate")
	})
	b.Run("module-to-host", func(b *testing.B) {
		out := bytes.Repeat([]byte("y"), n)
		buf := make([]byte, 4096)
		for b.Loop() {
			m.mu.Lock()
			m.emitLocked(out)
			m.mu.Unlock()
			for got := 0; got < n; {
				k, err := port.Read(buf)
				if err != nil && !isTimeout(err) {
					b.Fatal(err)
				}
				got += k
			}
		}
		b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds()/lineRate, "of-line-rate")
	})
}

// drain reads what the modem has sent so far.
func drain(port io.Reader) {
	buf := make([]byte, 256)
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		if k, _ := port.Read(buf); k == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func isTimeout(err error) bool {
	t, ok := err.(interface{ Timeout() bool })
	return ok && t.Timeout()
}
