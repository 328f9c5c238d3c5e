package atsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
)

// offlineModem is a Modem without a pty or goroutines of its own: input
// is fed to it directly and its output is collected, so the fuzz target
// can drive every handler fast. Dials and DNS fail at once.
func offlineModem(dialect string) *Modem {
	errOffline := errors.New("offline")
	cfg := Config{Dialect: dialect, PIN: DefaultPIN, Signal: 20, DialTimeout: DefaultDialTimeout,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Err: errOffline}
		},
		Resolve: func(context.Context, string) ([]string, error) { return nil, errOffline },
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Modem{cfg: cfg, log: slog.New(slog.DiscardHandler), ctx: ctx, cancel: cancel,
		rng: rand.New(rand.NewPCG(1, 2)), outCh: make(chan struct{}, 1), signal: 20}
	m.cond = sync.NewCond(&m.mu)
	m.d = newDialect(dialect, m)
	m.mu.Lock()
	m.powerOnLocked()
	m.mu.Unlock()
	return m
}

func (m *Modem) stopOffline() {
	m.cancel()
	m.mu.Lock()
	m.closed = true
	m.dropSocketsLocked()
	m.cond.Broadcast()
	m.mu.Unlock()
	m.wg.Wait()
}

// FuzzInput feeds arbitrary host input to each personality: no panic, no
// hang, and the modem keeps answering AT afterwards.
func FuzzInput(f *testing.F) {
	for _, s := range []string{
		"AT\r", "ATE0\r\n", "AT+CMEE=2;+CSQ\r", `AT+QIOPEN=1,0,"TCP","h",1,0,1` + "\r",
		"AT+QISEND=0,5\rhello", "AT+QISEND=0\rab\x1a", "AT+QIRD=0,0\r", "AT+QIACT=1\rAT+QIACT?\r",
		"AT+CIPMUX=1\r\nAT+CIPSTART=0,\"TCP\",\"h\",1\r\n", "AT+CIPSEND=0,3\r\nabc", "AT+CWJAP=\"a\\\"\",\"b\"\r\n",
		"AT+CIPRECVTYPE=5,1\r\nAT+CIPRECVDATA=0,9\r\n", "AT+NETOPEN\rAT+CIPOPEN=0,\"UDP\",,,5\r",
		"AT+CIPSEND=0,2,\"1.2.3.4\",5\rxx", "AT+CIPRXGET=2,0\r", "AT+CGACT=1,1\rAT+USOCR=17\r",
		"AT+USOST=0,\"1.2.3.4\",5,2\r@@", "AT+UDCONF=1,1\rAT+USOWR=0,1,\"zz\"\r", "AT+CFUN=1,1\r", "AT+RST\r\n",
		"AT+USOCO=0,\"h\",1,1\r", "AT+QIDNSGIP=1,\"x\"\r", "\x00\xff\rA\bAT\r",
	} {
		for _, d := range Dialects() {
			f.Add(d, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, dialect string, in []byte) {
		if !strings.Contains(strings.Join(Dialects(), " "), dialect) || dialect == "" || strings.Contains(dialect, " ") {
			return
		}
		m := offlineModem(dialect)
		defer m.stopOffline()
		m.mu.Lock()
		m.inputLocked(in)
		m.data = nil // leave data mode, as an ESC or the full length would
		m.line = m.line[:0]
		m.out, m.outLen = nil, 0
		m.inputLocked([]byte("AT\r\n"))
		out := fmt.Sprintf("%q", m.out)
		m.mu.Unlock()
		if !strings.Contains(out, "OK") {
			t.Fatalf("no OK to AT after the input; output %s", out)
		}
	})
}
