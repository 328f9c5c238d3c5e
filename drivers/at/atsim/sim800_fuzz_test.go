package atsim

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// sim800Words are the commands FuzzSIM800Stack strings together.
var sim800Words = []string{
	"AT+CIPMUX=1", "AT+CIPMUX=0", "AT+CIPRXGET=1", "AT+CIPRXGET=0", `AT+CSTT="iot"`, "AT+CIICR",
	"AT+CIFSR", "AT+CIFSR;E0", "AT+CIPSTATUS", "AT+CIPSTATUS=0", `AT+CIPSTART=0,"TCP","h",1`,
	`AT+CIPSTART=5,"UDP","1.2.3.4","9"`, "AT+CIPSEND=0,3", "AT+CIPSEND=0", "AT+CIPSEND?",
	"AT+CIPRXGET=2,0,1460", "AT+CIPRXGET=3,0", "AT+CIPRXGET=4,0", "AT+CIPCLOSE=0,1", "AT+CIPSHUT",
	"AT+CIPQSEND=1", `AT+CDNSGIP="h"`, "AT+CFUN=1,1", "AT+CPOWD=1", "AT+CREG?", "AT+CEREG?",
}

var sim800States = []string{"IP INITIAL", "IP START", "IP GPRSACT", "IP STATUS", "IP PROCESSING", "PDP DEACT"}

// FuzzSIM800Stack drives the SIM800's IP state machine with command
// sequences (each byte picks a command; bytes ≥ 0xe0 inject a bearer loss
// or stale sockets, or type raw data) and checks what must always hold:
// the state is one AT+CIPSTATUS can name, IP INITIAL holds no connection
// and no context, held numbers are 0..5, and the module still answers AT.
func FuzzSIM800Stack(f *testing.F) {
	f.Add([]byte{0, 2, 4, 5, 6, 10, 12, 19})
	f.Add([]byte{4, 5, 7, 10, 0xe0, 8, 19, 4})
	f.Add([]byte{0xe1, 8, 10, 18, 19, 0xf3, 'a', 'b'})
	f.Add([]byte{12, 'x', 0x1a, 13, 0x1b, 22, 23})
	f.Fuzz(func(t *testing.T, prog []byte) {
		m := offlineModem(DialectSIM800)
		defer m.stopOffline()
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, b := range prog {
			switch {
			case b == 0xe0:
				m.injectLocked(Fault{Kind: BearerLoss})
			case b == 0xe1:
				m.injectLocked(Fault{Kind: StaleSockets, Sockets: 3})
			case b >= 0xe2:
				m.inputLocked([]byte{b - 0xe2 + '!', '\r'})
			default:
				m.inputLocked([]byte(sim800Words[int(b)%len(sim800Words)] + "\r"))
			}
			d := m.d.(*sim800)
			if st := d.stateName(); !slices.Contains(sim800States, st) {
				t.Fatalf("state %q", st)
			}
			if d.state == s8Initial && (len(m.socks) > 0 || m.pdpActiveLocked()) {
				t.Fatalf("IP INITIAL with sockets %v or an active context", sortedKeys(m.socks))
			}
			for id := range m.socks {
				if id < 0 || id >= sim800MaxLinks {
					t.Fatalf("socket %d held", id)
				}
			}
		}
		m.data = nil
		m.line = m.line[:0]
		m.out, m.outLen = nil, 0
		m.inputLocked([]byte("AT\r"))
		if out := fmt.Sprintf("%q", m.out); !strings.Contains(out, "OK") {
			t.Fatalf("no OK to AT; output %s", out)
		}
	})
}
