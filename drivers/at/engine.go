package at

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTimeout is the timeout of a command that sets none.
const DefaultTimeout = 10 * time.Second

// Final is a vendor final result code.
type Final struct {
	// Text is the line ("SEND OK"), or its start when Prefix is set
	// ("DATA ACCEPT:").
	Text   string
	Prefix bool
	// Fail makes it a failing final, reported as a *ResultError.
	Fail bool
}

// Options configure an [Engine]. The zero value is usable.
type Options struct {
	// LineEnd is appended to every command: "\r" (the default) for
	// cellular modules, "\r\n" for ESP-AT.
	LineEnd string
	// Timeout is the default per-command timeout; 0 means DefaultTimeout.
	Timeout time.Duration
	// Finals adds vendor final results to the standard ones.
	Finals []Final
	// OnNULs, when set, is called on the reader goroutine when NULRun
	// NUL bytes arrive in a row at the start of a line, which is how a
	// u-blox SARA-R4 announces a reboot. It must not block or call Do.
	OnNULs func()
	// Logger receives debug logs of dropped lines; nil discards them.
	// Command arguments and data are never logged.
	Logger *slog.Logger
	// Trace, when set, is the tracer from the start ([Engine.SetTracer]).
	Trace func(TraceEvent)
}

// Engine runs AT commands over a byte stream. Create it with [New]; all
// methods are safe for concurrent use.
type Engine struct {
	rw      io.ReadWriter
	opts    Options
	log     *slog.Logger
	fr      framer
	sem     chan struct{} // held by the command owning the line
	closed  chan struct{} // closed by Close or a stream failure
	readerX chan struct{} // closed when the reader goroutine has returned
	tracer  atomic.Pointer[func(TraceEvent)]

	mu      sync.Mutex // guards the fields below
	urcs    []URC      // longest prefix first
	pending *pending
	waiters []*waiter
	err     error // why closed is closed
	// outOfStep: an answer may be on its way that belongs to no command
	// the engine will send; the next command resyncs first (sync.go).
	outOfStep bool
	echo      echoState // what the module does now, as far as known
	echoWant  echoState // what the last ATE command asked for
	syncSeq   int       // numbers the resync sentinels
	// secretNames holds the upper-case names of the secret commands sent,
	// whose echo a trace shows without arguments.
	secretNames map[string]bool
}

var std = []Final{
	{Text: "OK"},
	{Text: "ERROR", Fail: true},
	{Text: "+CME ERROR:", Prefix: true, Fail: true},
	{Text: "+CMS ERROR:", Prefix: true, Fail: true},
	{Text: "NO CARRIER", Fail: true},
	{Text: "BUSY", Fail: true},
	{Text: "NO ANSWER", Fail: true},
	{Text: "NO DIALTONE", Fail: true},
}

// New starts an engine on rw and its reader goroutine. The engine owns rw
// from now on: nobody else may read it. rw.Read may return timeout errors
// (errors with Timeout() true, like serial.ErrNoData) or (0, nil) when no
// data arrived; the reader just reads again. Any other read error stops the
// engine. Call Close to stop it.
func New(rw io.ReadWriter, opts Options) *Engine {
	if opts.LineEnd == "" {
		opts.LineEnd = "\r"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	opts.Finals = append(append([]Final(nil), std...), opts.Finals...)
	e := &Engine{
		rw:      rw,
		opts:    opts,
		log:     opts.Logger,
		sem:     make(chan struct{}, 1),
		closed:  make(chan struct{}),
		readerX: make(chan struct{}),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.SetTracer(opts.Trace)
	nuls := func() {
		e.trace(false, TraceNUL, func() string { return fmt.Sprintf("<%d NUL bytes>", NULRun) })
		if opts.OnNULs != nil {
			opts.OnNULs()
		}
	}
	e.fr = framer{line: e.onLine, wantPrompt: e.wantPrompt, prompt: e.onPrompt, headerEnd: e.headerEnd, nuls: nuls}
	go e.readLoop()
	return e
}

// Done is closed when the engine stops (Close, or the stream failed).
func (e *Engine) Done() <-chan struct{} { return e.closed }

// Err returns why the engine stopped, or nil while it runs.
func (e *Engine) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// Close stops the engine: pending and later commands fail with ErrClosed.
// If rw is an io.Closer it is closed, and Close waits for the reader
// goroutine to return, which needs rw.Read to return after rw.Close (a
// serial.Port does within its read timeout). Close is idempotent.
func (e *Engine) Close() error {
	e.stop(ErrClosed)
	var err error
	if c, ok := e.rw.(io.Closer); ok {
		err = c.Close()
	}
	<-e.readerX
	return err
}

// Fail stops the engine with cause, as when its stream fails: pending and
// later commands fail with cause (which should wrap [ErrClosed]) and Done is
// closed. It does not close the stream; Close still must. Use it when a
// write error shows the port is gone before the reader notices.
func (e *Engine) Fail(cause error) { e.stop(cause) }

func (e *Engine) stop(cause error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return
	}
	e.err = cause
	close(e.closed)
}

type timeouter interface{ Timeout() bool }

func (e *Engine) readLoop() {
	defer close(e.readerX)
	buf := make([]byte, 4096)
	for {
		n, err := e.rw.Read(buf)
		if n > 0 {
			e.fr.feed(buf[:n])
		}
		select {
		case <-e.closed:
			return
		default:
		}
		if err == nil {
			continue
		}
		var t timeouter
		if errors.As(err, &t) && t.Timeout() {
			continue
		}
		e.stop(fmt.Errorf("%w: read: %w", ErrClosed, err))
		return
	}
}

// isFinal classifies line; ok is false for a line that is no final result.
func (e *Engine) isFinal(line string) (err error, ok bool) {
	for _, f := range e.opts.Finals {
		if line != f.Text && !(f.Prefix && strings.HasPrefix(line, f.Text)) {
			continue
		}
		switch {
		case !f.Fail:
			return nil, true
		case f.Text == "ERROR":
			return ErrError, true
		case f.Text == "NO CARRIER":
			return ErrNoCarrier, true
		case f.Text == "+CME ERROR:":
			code, text := parseCode(line[len(f.Text):])
			return &CMEError{Code: code, Text: text}, true
		case f.Text == "+CMS ERROR:":
			code, text := parseCode(line[len(f.Text):])
			return &CMSError{Code: code, Text: text}, true
		default:
			return &ResultError{Line: line}, true
		}
	}
	return nil, false
}

// onLine routes one line; see the package documentation for the order.
func (e *Engine) onLine(line string) {
	e.traceLine(line)
	e.mu.Lock()
	p := e.pending
	if p != nil && !p.echoSeen && line == p.text {
		p.echoSeen = true
		if p.mode.requireEcho {
			e.echo = echoOn
		}
		e.mu.Unlock()
		return
	}
	for i, w := range e.waiters {
		if w.match(line) {
			e.waiters = append(e.waiters[:i], e.waiters[i+1:]...)
			e.mu.Unlock()
			w.ch <- line
			return
		}
	}
	if p != nil && p.mode.requireEcho && !p.echoSeen {
		// The module echoes: what comes before the echo was sent before
		// the module read the command, so it cannot be its answer.
		if _, ok := e.isFinal(line); ok {
			if !p.mode.sentinel && !p.mode.anyFinal {
				e.desyncLocked("a final result came before the command's echo")
			}
			e.mu.Unlock()
			e.log.Debug("at: final result before the command's echo dropped", "final", printable(line), "command", commandName(p.text))
			return
		}
		if e.urcLocked(line) {
			return
		}
		e.mu.Unlock()
		e.log.Debug("at: line before the command's echo dropped", "line", printable(line))
		return
	}
	if p != nil && p.prefix != "" && strings.HasPrefix(line, p.prefix) {
		e.mu.Unlock()
		e.infoLine(p, line)
		return
	}
	if ferr, ok := e.isFinal(line); ok {
		if p == nil {
			// An answer nobody waits for: a command was abandoned, or
			// the module answered a line the engine did not send as a
			// command (ESC, a half-typed command). More may follow.
			e.desyncLocked("a final result came with no command pending")
			e.mu.Unlock()
			e.log.Debug("at: final result with no pending command dropped", "final", printable(line))
			return
		}
		if ferr == nil && p.payload != nil && !p.prompted {
			// ESP-AT: "OK" then ">" for CIPSEND; the command goes on.
			e.mu.Unlock()
			return
		}
		e.pending = nil
		if p.mode.sentinel {
			e.outOfStep = false
		}
		e.mu.Unlock()
		if p.mode.anyFinal || p.mode.sentinel {
			ferr = nil
		}
		p.finish(line, ferr)
		return
	}
	if e.urcLocked(line) {
		return
	}
	e.mu.Unlock()
	if p != nil {
		e.infoLine(p, line)
		return
	}
	e.log.Debug("at: unsolicited line dropped", "line", printable(line))
}

// urcLocked hands line to its URC handler, if one is registered, and
// reports whether it did. e.mu is held on entry and released when it
// reports true.
func (e *Engine) urcLocked(line string) bool {
	u, ok := e.findURC(line)
	if !ok {
		return false
	}
	e.mu.Unlock()
	if n := u.Line(line); n > 0 && u.Data != nil {
		e.fr.raw(n, func(b []byte) {
			e.traceData(false, TraceData, b)
			u.Data(line, b)
		})
	}
	return true
}

// infoLine adds line to p's response; runs on the reader goroutine, which
// is the only writer of p.resp until p finishes.
func (e *Engine) infoLine(p *pending, line string) {
	p.resp.Lines = append(p.resp.Lines, line)
	if p.raw != nil {
		if n := p.raw(line); n > 0 {
			e.fr.raw(n, func(b []byte) {
				e.traceData(false, TraceData, b)
				p.resp.Data = append(p.resp.Data, b...)
			})
		}
	}
}

func (e *Engine) wantPrompt() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pending != nil && e.pending.payload != nil && !e.pending.prompted
}

func (e *Engine) onPrompt(c byte) {
	e.trace(false, TracePrompt, func() string { return string(c) })
	e.mu.Lock()
	p := e.pending
	if p != nil && !p.prompted {
		p.prompted = true
		close(p.promptCh)
	}
	e.mu.Unlock()
}

// printable shortens and sanitises a line for a debug log. An echoed
// command line keeps only its name: its arguments may hold a password.
func printable(s string) string {
	if len(s) >= 2 && strings.EqualFold(s[:2], "AT") {
		return commandName(s) + " (arguments hidden)"
	}
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%q", s)
}
