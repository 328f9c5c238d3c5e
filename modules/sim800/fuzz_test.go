package sim800_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/modules/sim800"
)

// FuzzLines feeds module output to the dialect's line parsers and, through
// a modem's engine, to its URC handlers ("<n>, CLOSED", "+CIPRXGET: 1,<n>",
// "+RECEIVE,<n>,<len>:" with its data, "+PDP: DEACT"): nothing may panic
// or hang, and no parser accepts a number outside 0..5 or a length beyond
// the engine's raw limit.
func FuzzLines(f *testing.F) {
	for _, s := range []string{
		"0, CONNECT OK\r\n5,CLOSED\r\n6, CLOSED\r\n-1, CLOSED\r\n0,\r\n",
		"+CIPRXGET: 2,0,5,0\r\nhello\r\nOK\r\n+CIPRXGET: 2,1,99999999,0\r\n+CIPRXGET: 2,9,1,1\r\n",
		"+CIPRXGET: 1,0\r\n+CIPRXGET: 1,\r\n+RECEIVE,0,5:\r\nhello+RECEIVE,3,-1:\r\n+RECEIVE,1,2000000:\r\n",
		"+PDP: DEACT\r\nRDY\r\nSHUT OK\r\n0, SEND FAIL\r\nDATA ACCEPT:0,5\r\n",
		"+CIPSTATUS: 0,0,\"TCP\",\"1.2.3.4\",\"80\",\"CONNECTED\"\r\n+CIPSTATUS: 1,,\"\",\"\",\"\",\"INITIAL\"\r\nC: 0,0,\"TCP\"\r\n",
		"\x00\x00> \r\n\r\n,,,\r\n+CIPRXGET:\r\n+RECEIVE,\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, l := range strings.Split(string(in), "\n") {
			l = strings.TrimRight(l, "\r")
			if id, text, ok := sim800.LinkResult(l); ok && (id < 0 || id > 5 || text == "") {
				t.Fatalf("linkResult(%q) = %d, %q", l, id, text)
			}
			if id, got, left, ok := sim800.RxHeader(l); ok && (id < 0 || id > 5 || got < 0 || got > at.MaxRaw || left < 0) {
				t.Fatalf("rxHeader(%q) = %d, %d, %d", l, id, got, left)
			}
			if id, n, ok := sim800.ReceiveHeader(l); ok && (id < 0 || id > 5 || n < 0 || n > at.MaxRaw) {
				t.Fatalf("receiveHeader(%q) = %d, %d", l, id, n)
			}
			for id := range 6 {
				_, _ = sim800.StatusState(l, id)
			}
		}
		// The URC handlers, on the engine's reader goroutine.
		port, feed := net.Pipe()
		m, err := modem.NewModem(context.Background(), port, sim800.Name, modem.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = feed.Write(in)
		_ = feed.Close() // the reader sees EOF once it has taken everything
		<-m.Done()
		_ = m.Close()
	})
}
