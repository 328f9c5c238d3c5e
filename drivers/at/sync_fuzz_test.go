package at

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// FuzzEngineResync answers the resync exchange with arbitrary module
// output: nothing panics, the exchange always returns, and it never
// succeeds without the sentinel's echo.
func FuzzEngineResync(f *testing.F) {
	for _, s := range [][2]string{
		{"\r\nOK\r\n", "AT+IOTDSYNC=1\r\r\nERROR\r\n"},
		{"\r\nERROR\r\n", "\r\nOK\r\nAT+IOTDSYNC=1\r\r\n+CME ERROR: 4\r\n"},
		{"ATE1\r\r\nOK\r\n", "AT+IOTDSYNC=0\r\r\nERROR\r\nAT+IOTDSYNC=1\r\nERROR\r\n"},
		{"\r\nRDY\r\n\x00\x00\x00", "\r\nERROR\r\n\r\nOK\r\n"},
		{"\r\n+IPD,0,4:\r\nOK\r\n", "AT+IOTDSYNC=1\r+QIRD: 3\r\nOK\r\n"},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, ate1, sentinel []byte) {
		rw := nopRW{closed: make(chan struct{}), wrote: make(chan struct{}, 1)}
		e := New(rw, Options{})
		if err := e.HandleURC(URC{Prefix: "+IPD,", HeaderEnd: ':', Line: func(l string) int { return LenHeader(l, "+IPD", 1) }}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- e.Resync(context.Background()) }()
		<-rw.wrote
		e.fr.feed(ate1)
		select {
		case <-rw.wrote: // the sentinel is on its way
			e.fr.feed(sentinel)
		case <-time.After(10 * time.Millisecond):
		}
		time.Sleep(time.Millisecond)
		e.Close()
		if err := <-done; err == nil && !bytes.Contains(sentinel, []byte(sentinelPrefix)) {
			t.Fatalf("the resync succeeded without the sentinel's echo: %q then %q", ate1, sentinel)
		}
	})
}
