package at

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
)

// event is what the framer produced, for comparing two runs.
type event struct {
	kind string // "line", "prompt", "raw"
	data string
}

// runFramer feeds input in the chunks given by cuts and records events.
// Lines "+D:<n>" claim n raw bytes; "+IPD,<n>:" is a header URC ending at
// ':' that claims n raw bytes; prompts are awaited when prompts is true.
func runFramer(input []byte, cuts []int, prompts bool) []event {
	var evs []event
	var f *framer
	f = &framer{
		line: func(l string) {
			evs = append(evs, event{"line", l})
			var num string
			switch {
			case strings.HasPrefix(l, "+D:"):
				num = l[3:]
			case strings.HasPrefix(l, "+IPD,") && strings.HasSuffix(l, ":"):
				num = l[5 : len(l)-1]
			default:
				return
			}
			if n, err := strconv.Atoi(num); err == nil && n < 1<<12 {
				f.raw(n, func(b []byte) { evs = append(evs, event{"raw", string(b)}) })
			}
		},
		wantPrompt: func() bool { return prompts },
		prompt:     func(c byte) { evs = append(evs, event{"prompt", string(c)}) },
		headerEnd: func(l []byte) bool {
			return bytes.HasPrefix(l, []byte("+IPD,")) && l[len(l)-1] == ':'
		},
	}
	for _, c := range cuts {
		c = min(c, len(input))
		f.feed(input[:c])
		input = input[c:]
	}
	f.feed(input)
	return evs
}

// FuzzFramer checks that the framer never panics, that its lines are clean,
// that raw blocks have the length asked for, and that how the stream is cut
// into reads changes nothing.
func FuzzFramer(f *testing.F) {
	for _, s := range []string{
		"\r\nOK\r\n",
		"AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n",
		"\r\n+D:6\r\n\r\nOK\r\n\r\nOK\r\n",
		"+IPD,4:\x00\x1a\r\n+IPD,2:ab\r\nOK\r\n",
		"\r\nOK\r\n\r\n> ",
		"\r\n@\x00\xff\xfe\r\rERROR\n",
		"\r\n+CME ERROR: 10\r\n+CMS ERROR:x\r\n",
	} {
		f.Add([]byte(s), uint8(3), true)
		f.Add([]byte(s), uint8(1), false)
	}
	f.Fuzz(func(t *testing.T, input []byte, step uint8, prompts bool) {
		whole := runFramer(input, nil, prompts)
		var cuts []int
		if step > 0 {
			for i := 0; i < len(input); i += int(step) {
				cuts = append(cuts, int(step))
			}
		}
		pieces := runFramer(input, cuts, prompts)
		if len(whole) != len(pieces) {
			t.Fatalf("chunking changed the events:\n%q\n%q", whole, pieces)
		}
		for i := range whole {
			if whole[i] != pieces[i] {
				t.Fatalf("event %d differs: %q vs %q", i, whole[i], pieces[i])
			}
			if whole[i].kind == "line" {
				l := whole[i].data
				if l == "" || strings.ContainsAny(l, "\r\n\x00") || len(l) > MaxLine {
					t.Fatalf("bad line %q", l)
				}
			}
		}
	})
}

// nopRW is a stream that never delivers data; the fuzz target feeds the
// engine's framer itself. It signals each write.
type nopRW struct {
	closed chan struct{}
	wrote  chan struct{}
}

func (r nopRW) Read([]byte) (int, error) { <-r.closed; return 0, io.EOF }
func (r nopRW) Write(p []byte) (int, error) {
	select {
	case r.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}
func (r nopRW) Close() error { close(r.closed); return nil }

// FuzzEngineRouting drives the engine's line routing (echo, finals, URCs,
// raw reads, two-phase waiters, prompts) with arbitrary modem output while
// a command is pending: nothing panics and the command always returns.
func FuzzEngineRouting(f *testing.F) {
	for _, s := range []string{
		"\r\n+QIRD: 5\r\nOK\r\n\r\n\r\nOK\r\n",
		"AT+QIRD=0,5\r\r\n+QIURC: \"recv\",0\r\n+QIRD: 0\r\n\r\nOK\r\n",
		"+IPD,0,3:\r\nOK\r\n+QIOPEN: 0,0\r\nERROR\r\n",
		"\r\n> \r\nSEND OK\r\n",
		"\r\n+CME ERROR: 3\r\n",
		"\r\nRDY\r\n+QIRD: 999999999\r\n",
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, input []byte, payload bool) {
		rw := nopRW{closed: make(chan struct{}), wrote: make(chan struct{}, 1)}
		e := New(rw, Options{Finals: []Final{{Text: "SEND OK"}, {Text: "SEND FAIL", Fail: true}}})
		lenOf := func(l string) int {
			i := strings.LastIndexAny(l, ", :")
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(l[i+1:], ":")))
			return n
		}
		for _, p := range []string{"+QIURC:", "RDY"} {
			if err := e.HandleURC(URC{Prefix: p, Line: func(string) int { return 0 }}); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.HandleURC(URC{Prefix: "+IPD,", HeaderEnd: ':', Line: lenOf, Data: func(string, []byte) {}}); err != nil {
			t.Fatal(err)
		}
		c := Command{
			Text:  "AT+QIRD=0,5",
			Raw:   func(l string) int { return lenOf(l) },
			Await: func(l string) bool { return strings.HasPrefix(l, "+QIOPEN:") },
		}
		if payload {
			c.Payload = []byte("x")
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err := e.Do(context.Background(), c)
			if err == nil && resp.Final == "" {
				t.Error("success without a final result")
			}
		}()
		<-rw.wrote
		e.fr.feed(input)
		e.Close()
		<-done
	})
}
