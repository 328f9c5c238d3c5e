package at_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/drivers/at"
)

// traceLog collects trace events.
type traceLog struct {
	mu sync.Mutex
	ev []at.TraceEvent
}

func (l *traceLog) add(e at.TraceEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, e)
}

// lines renders the events as `iotd at trace` prints them, without times.
func (l *traceLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.ev {
		dir := "←"
		if e.Out {
			dir = "→"
		}
		out = append(out, dir+" "+string(e.Kind)+" "+e.Text)
	}
	return out
}

// The trace shows every crossing in order: the command before its answer,
// the prompt, the payload as length and hex, the raw data read as hex, raw
// writes quoted.
func TestTraceContentAndOrder(t *testing.T) {
	var tl traceLog
	m, e := newEngine(t, at.Options{Trace: tl.add})
	ctx := context.Background()

	ch := async(e, at.Command{Text: "AT+CSQ"})
	m.expect("AT+CSQ")
	m.send("\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
	require.NoError(t, wait(t, ch).err)

	payload := make([]byte, 1460)
	copy(payload, []byte{0x16, 0x03, 0x01, 0x00, 0xa5})
	payload[len(payload)-1] = 0x1a // where the test's read stops
	ch = async(e, at.Command{Text: "AT+QISEND=0,1460", Payload: payload})
	m.expect("AT+QISEND=0,1460")
	m.send("> ")
	got, err := m.ReadUntil([]byte{0x1a}, guard)
	require.NoError(t, err)
	require.Len(t, got, len(payload))
	m.send("\r\nOK\r\n")
	require.NoError(t, wait(t, ch).err)

	ch = async(e, at.Command{Text: "AT+QIRD=0,1500", Raw: func(l string) int {
		if strings.HasPrefix(l, "+QIRD:") {
			return at.LenHeader(l, "+QIRD", 0)
		}
		return 0
	}})
	m.expect("AT+QIRD=0,1500")
	m.send("\r\n+QIRD: 5\r\nhello\r\n\r\nOK\r\n")
	require.NoError(t, wait(t, ch).err)

	require.NoError(t, e.WriteRaw(ctx, []byte("+++")))

	assert.Equal(t, []string{
		"→ command AT+CSQ",
		"← line +CSQ: 20,99",
		"← line OK",
		"→ command AT+QISEND=0,1460",
		"← prompt >",
		"→ payload <1460 bytes: 16030100a50000000000000000000000…>",
		"← line OK",
		"→ command AT+QIRD=0,1500",
		"← line +QIRD: 5",
		"← data <5 bytes: 68656c6c6f>",
		"← line OK",
		`→ raw "+++"`,
	}, tl.lines())
	for _, ev := range tl.ev {
		assert.False(t, ev.Time.IsZero())
	}
}

// A secret command shows its name only, and so does its echo; a later
// SetTracer(nil) stops the trace.
func TestTraceHidesSecrets(t *testing.T) {
	for _, echo := range []bool{false, true} {
		t.Run(map[bool]string{false: "echo off", true: "echo on"}[echo], func(t *testing.T) {
			var tl traceLog
			m, e := newEngine(t, at.Options{})
			e.SetTracer(tl.add)
			cmd := `AT+QICSGP=1,1,"cmnet","user","pa55word",3`
			ch := async(e, at.Command{Text: cmd, Secret: true})
			m.expect(cmd)
			if echo {
				m.send(cmd + "\r")
			}
			m.send("\r\nOK\r\n")
			require.NoError(t, wait(t, ch).err)
			// The module echoes it again (after ATE1, say) with other case.
			m.send(strings.ToLower(cmd[:9]) + cmd[9:] + "\r\n")
			ch = async(e, at.Command{Text: "AT"})
			m.expect("AT")
			m.send("\r\nOK\r\n")
			require.NoError(t, wait(t, ch).err)

			all := strings.Join(tl.lines(), "\n")
			assert.NotContains(t, all, "pa55word")
			assert.NotContains(t, all, "cmnet")
			assert.Contains(t, all, "→ command AT+QICSGP=<hidden>")
			if echo {
				assert.Contains(t, all, "← line AT+QICSGP=<hidden>")
			}
			n := len(tl.lines())
			e.SetTracer(nil)
			ch = async(e, at.Command{Text: "AT"})
			m.expect("AT")
			m.send("\r\nOK\r\n")
			require.NoError(t, wait(t, ch).err)
			assert.Len(t, tl.lines(), n, "no events after SetTracer(nil)")
		})
	}
}

func TestHexPreview(t *testing.T) {
	assert.Equal(t, "<0 bytes: >", at.HexPreview(nil))
	assert.Equal(t, "<3 bytes: 0d0a00>", at.HexPreview([]byte("\r\n\x00")))
	assert.Equal(t, "<17 bytes: 000102030405060708090a0b0c0d0e0f…>", at.HexPreview([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10")))
}
