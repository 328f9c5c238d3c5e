package at

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Tracing shows every crossing of the line, for field debugging (the C
// SDK's AT debug): what the host wrote and what the module answered, in
// order, with the time. It is off unless a tracer is set, and then costs a
// function call per line; it never shows a secret:
//
//   - a command marked [Command.Secret] shows as its name only, and so does
//     its echo (any line read that starts with the name of a secret command
//     sent earlier, whatever the module echoes);
//   - data (a payload written after a prompt, a raw block read) shows as its
//     length and a hex prefix, never as text: it is socket data, which may
//     be anything.

// TraceKind says what a [TraceEvent] is.
type TraceKind string

const (
	TraceCommand TraceKind = "command" // a command line written
	TracePayload TraceKind = "payload" // data written after a prompt
	TraceRaw     TraceKind = "raw"     // bytes written outside a command (ESC, "+++")
	TraceLine    TraceKind = "line"    // a line read
	TraceData    TraceKind = "data"    // a block of raw data read
	TracePrompt  TraceKind = "prompt"  // a data prompt read (">", "@")
	TraceNUL     TraceKind = "nul"     // a run of NUL bytes read (a reboot)
)

// TraceEvent is one crossing of the line.
type TraceEvent struct {
	Time time.Time
	// Out is true for what the host wrote.
	Out  bool
	Kind TraceKind
	// Text is the line as it crossed (without line end), the command's
	// name for a secret one, or "<N bytes: hex…>" for data.
	Text string
}

// Trace limits: a traced line is cut after traceMaxText bytes, and data
// shows its first traceHexPrefix bytes.
const (
	traceMaxText   = 512
	traceHexPrefix = 16
)

// SetTracer makes fn receive every event on the line from now on; nil
// turns tracing off. fn runs on the reader goroutine (reads) and on the
// goroutine of the command that writes (writes), possibly both at once;
// it must not block and must not call the engine. Events of one direction
// arrive in order, and a command is traced before it is written, so its
// answer is never traced before it.
func (e *Engine) SetTracer(fn func(TraceEvent)) {
	if fn == nil {
		e.tracer.Store(nil)
		return
	}
	e.tracer.Store(&fn)
}

// trace emits one event if a tracer is set.
func (e *Engine) trace(out bool, kind TraceKind, text func() string) {
	p := e.tracer.Load()
	if p == nil {
		return
	}
	(*p)(TraceEvent{Time: time.Now(), Out: out, Kind: kind, Text: text()})
}

// traceCommand traces a command line about to be written; a secret one
// shows its name, and its name is remembered so that its echo shows the
// name too.
func (e *Engine) traceCommand(c Command) {
	if c.Secret {
		e.mu.Lock()
		if e.secretNames == nil {
			e.secretNames = map[string]bool{}
		}
		e.secretNames[strings.ToUpper(commandName(c.Text))] = true
		e.mu.Unlock()
	}
	e.trace(true, TraceCommand, func() string {
		if c.Secret {
			return hideArgs(c.Text)
		}
		return clip(c.Text)
	})
}

// traceLine traces a line read, hiding the arguments of a secret
// command's echo.
func (e *Engine) traceLine(line string) {
	if e.tracer.Load() == nil {
		return
	}
	secret := false
	if len(line) >= 2 && strings.EqualFold(line[:2], "AT") {
		name := strings.ToUpper(commandName(line))
		e.mu.Lock()
		secret = e.secretNames[name]
		e.mu.Unlock()
	}
	e.trace(false, TraceLine, func() string {
		if secret {
			return hideArgs(line)
		}
		return clip(line)
	})
}

// hideArgs is a secret command's text as a trace shows it.
func hideArgs(text string) string {
	name := commandName(text)
	if len(name) < len(text) {
		return name + text[len(name):len(name)+1] + "<hidden>"
	}
	return name
}

// clip cuts a long line and escapes what is not printable.
func clip(s string) string {
	more := 0
	if len(s) > traceMaxText {
		more, s = len(s)-traceMaxText, s[:traceMaxText]
	}
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0xfffd }) >= 0 {
		q := strconv.Quote(s)
		s = q[1 : len(q)-1]
	}
	if more > 0 {
		s += fmt.Sprintf("…(%d more bytes)", more)
	}
	return s
}

// HexPreview renders data as a trace shows it: "<5 bytes: 68656c6c6f>",
// its first bytes in hex followed by "…" when there are more.
func HexPreview(b []byte) string {
	if len(b) <= traceHexPrefix {
		return fmt.Sprintf("<%d bytes: %s>", len(b), hex.EncodeToString(b))
	}
	return fmt.Sprintf("<%d bytes: %s…>", len(b), hex.EncodeToString(b[:traceHexPrefix]))
}

// traceData traces a block of bytes.
func (e *Engine) traceData(out bool, kind TraceKind, b []byte) {
	e.trace(out, kind, func() string { return HexPreview(b) })
}

// traceRaw traces bytes written outside a command: control sequences the
// engine chose (ESC, "+++"), shown quoted.
func (e *Engine) traceRaw(b []byte) {
	e.trace(true, TraceRaw, func() string {
		if len(b) > traceHexPrefix {
			return HexPreview(b)
		}
		return strconv.Quote(string(b))
	})
}
