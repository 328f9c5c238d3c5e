package modem_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/at/modem"
)

// feedPort is a port that delivers one input, then reports "no data" until
// it is closed; writes are discarded.
type feedPort struct {
	mu     sync.Mutex
	in     []byte
	closed bool
}

type noData struct{}

func (noData) Error() string { return "no data" }
func (noData) Timeout() bool { return true }

func (p *feedPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	if len(p.in) == 0 {
		p.mu.Unlock()
		time.Sleep(time.Millisecond)
		p.mu.Lock()
		return 0, noData{}
	}
	n := copy(b, p.in)
	p.in = p.in[n:]
	return n, nil
}

func (p *feedPort) drained() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.in) == 0
}

func (p *feedPort) Write(b []byte) (int, error) { return len(b), nil }

func (p *feedPort) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

// FuzzDialectURCs feeds modem output to each dialect's URC handlers (with
// sockets 0..2 bound) and its response parsers: nothing may panic, and a
// socket's buffered data never exceeds what the input carried.
func FuzzDialectURCs(f *testing.F) {
	for _, s := range []string{
		"\r\n+QIURC: \"recv\",0\r\n+QIURC: \"closed\",1\r\n+QIURC: \"pdpdeact\",1\r\n",
		"\r\n+QIURC: \"recv\",2,5\r\nhello\r\n+QIURC: \"recv\",9,99999999\r\n",
		"+IPD,0,5:hello\r\n+IPD,1,20\r\n1,CLOSED\r\n+CIPRECVDATA:3,abc\r\nOK\r\n",
		"+CIPRXGET: 1,0\r\n+IPCLOSE: 1,2\r\n+RECEIVE,2,3\r\nxyz+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n",
		"+UUSORD: 0,12\r\n+UUSOCL: 1\r\n+USORD: 0,3,\"a\"b\"\r\nRDY\r\n+UUSTARTUP\r\nready\r\n",
		"+QIURC:,\r\n+IPD,,:\r\n+IPD,-1,-1:\r\n+CIPRXGET:1\r\n+UUSORD:\r\n\x00\x00>@",
	} {
		for d := range 4 {
			f.Add([]byte(s), uint8(d))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, which uint8) {
		names := modem.Dialects()
		name := names[int(which)%len(names)]
		port := &feedPort{in: in}
		m, err := modem.NewModem(context.Background(), port, name, modem.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		var socks []*modem.Socket
		for id := range 3 {
			s := modem.NewTestSocket(m, []driver.Transport{driver.Stream, driver.Datagram}[id%2], "peer:1")
			if err := m.Bind(s, id); err != nil {
				break // a banner in the input rebooted the modem
			}
			socks = append(socks, s)
		}
		for deadline := time.Now().Add(2 * time.Second); !port.drained() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(2 * time.Millisecond) // let the reader route the last bytes
		for _, s := range socks {
			if n := modem.Buffered(s); n > len(in) {
				t.Fatalf("socket holds %d bytes from a %d-byte input", n, len(in))
			}
		}
		// The header parsers the dialects use on their responses.
		for _, l := range strings.Split(string(in), "\n") {
			for _, name := range []string{"+QIRD", "+CIPRECVDATA", "+CIPRXGET", "+USORD", "+IPD", "+RECEIVE"} {
				for i := range 4 {
					if n := at.LenHeader(l, name, i); n > at.MaxRaw {
						t.Fatalf("LenHeader(%q) = %d beyond MaxRaw", l, n)
					}
				}
			}
		}
	})
}
