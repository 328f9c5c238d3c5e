package at

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Command is one AT command.
type Command struct {
	// Text is the command line without its line end ("AT+CSQ").
	Text string
	// Timeout bounds the wait for the final result (and the prompt); 0
	// means the engine's default. The earlier of it and ctx's deadline wins.
	Timeout time.Duration
	// Prefix marks the command's own response lines, which go to the
	// command even when a URC with the same prefix is registered. Empty
	// means derived from Text: "AT+CEREG?" gives "+CEREG"; "-" means none.
	Prefix string
	// Raw, when set, is called with each of the command's information
	// lines on the reader goroutine; a return n > 0 means the next n bytes
	// on the wire are raw data (AT+QIRD: "+QIRD: 5" then 5 bytes), which
	// are appended to Response.Data. The CR LF ending the header line is
	// not part of the data. It must not block.
	Raw func(line string) int
	// Payload, when non-nil, makes this a send-data command: the engine
	// waits for a prompt (">", "> " or "@"), waits PromptDelay, writes
	// Payload as is (append Ctrl-Z yourself where the module wants it),
	// then waits for the final result. An "OK" before the prompt (ESP-AT)
	// does not end the command; an error final does.
	Payload     []byte
	PromptDelay time.Duration
	// Await, when set, makes this a two-phase command: after a successful
	// final result the engine waits, with the line free for other
	// commands, for the first line Await accepts (which may also arrive
	// before the final result) and returns it in Response.Result. Such a
	// line goes to no URC handler.
	Await func(line string) bool
	// AwaitTimeout bounds the second phase; 0 means Timeout.
	AwaitTimeout time.Duration
	// Secret says that the command's arguments hold a secret (a PIN, a
	// password): traces, logs and errors show the command's name only,
	// and so does a trace of its echo.
	Secret bool
}

// Response is the result of a successful command.
type Response struct {
	// Lines are the information lines, in order, without line ends.
	Lines []string
	// Data holds the raw bytes claimed by Command.Raw.
	Data []byte
	// Final is the final result line ("OK", "SEND OK").
	Final string
	// Result is the line that completed a two-phase command.
	Result string
}

type pending struct {
	text     string
	prefix   string
	raw      func(string) int
	payload  []byte
	mode     exchangeMode
	resp     Response
	echoSeen bool // e.mu
	prompted bool // e.mu
	promptCh chan struct{}
	done     chan struct{}
	err      error
	once     sync.Once
}

// exchangeMode says how the engine matches answers to one exchange.
type exchangeMode struct {
	// requireEcho: nothing before the command's echo belongs to it; a
	// final result that comes first answered something else (it is
	// dropped and the line marked out of step). Set while the module is
	// known to echo, and for the resync sentinel.
	requireEcho bool
	// anyFinal: every final result, failing or not, ends the exchange
	// with success (the resync steps, which only need "an answer").
	anyFinal bool
	// sentinel: the resync sentinel; its final result puts the line back
	// in step.
	sentinel bool
}

func (p *pending) finish(final string, err error) {
	p.once.Do(func() {
		p.resp.Final, p.err = final, err
		close(p.done)
	})
}

type waiter struct {
	match func(string) bool
	ch    chan string // buffered 1
	fail  chan error  // buffered 1: the module rebooted, no result will come
}

// responsePrefix derives "+CEREG" from "AT+CEREG?".
func responsePrefix(text string) string {
	if len(text) < 4 || !strings.EqualFold(text[:2], "AT") || (text[2] != '+' && text[2] != '$' && text[2] != '%' && text[2] != '#') {
		return ""
	}
	name := text[2:]
	if i := strings.IndexAny(name, "=?;"); i >= 0 {
		name = name[:i]
	}
	if len(name) < 2 {
		return ""
	}
	return name
}

// Do runs c and returns its response. Callers queue: one command owns the
// line at a time. When the line is out of step (see [Engine.Resync]) the
// resync exchange runs first. A failing final result returns a
// *CommandError wrapping ErrError, ErrNoCarrier, *CMEError, *CMSError or
// *ResultError; a timeout wraps ErrTimeout; a closed engine wraps ErrClosed;
// an ended ctx wraps ctx.Err().
func (e *Engine) Do(ctx context.Context, c Command) (*Response, error) {
	name := commandName(c.Text)
	fail := func(err error) (*Response, error) { return nil, &CommandError{Name: name, Err: err} }
	if strings.ContainsAny(c.Text, "\r\n") {
		return fail(fmt.Errorf("command text contains a line end"))
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = e.opts.Timeout
	}
	release, err := e.acquire(ctx, timeout)
	if err != nil {
		return fail(err)
	}
	defer release()
	if err := e.resyncIfNeeded(ctx); err != nil {
		return fail(err)
	}
	r, err := e.exchange(ctx, c, timeout, release, exchangeMode{})
	if err != nil {
		return fail(err)
	}
	return r, nil
}

// acquire takes the line, waiting at most timeout; release gives it back
// and may be called more than once.
func (e *Engine) acquire(ctx context.Context, timeout time.Duration) (release func(), err error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.closed:
		return nil, e.Err()
	case <-timer.C:
		return nil, fmt.Errorf("%w after %v waiting for the line (another command holds it)", ErrTimeout, timeout)
	}
	released := false
	return func() {
		if !released {
			released = true
			<-e.sem
		}
	}, nil
}

// exchange writes c and waits for its answer; the caller holds the line,
// and release frees it for the second phase of a two-phase command. A
// command abandoned after it was written (timeout, ctx) leaves the line out
// of step: its answer may still come.
func (e *Engine) exchange(ctx context.Context, c Command, timeout time.Duration, release func(), mode exchangeMode) (*Response, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()

	prefix := c.Prefix
	switch prefix {
	case "":
		prefix = responsePrefix(c.Text)
	case "-":
		prefix = ""
	}
	p := &pending{text: c.Text, prefix: prefix, raw: c.Raw, payload: c.Payload, mode: mode,
		promptCh: make(chan struct{}), done: make(chan struct{})}
	var w *waiter
	e.mu.Lock()
	if e.err != nil {
		e.mu.Unlock()
		return nil, e.err
	}
	if e.echo == echoOn {
		p.mode.requireEcho = true
	}
	e.pending = p
	if c.Await != nil {
		w = &waiter{match: c.Await, ch: make(chan string, 1), fail: make(chan error, 1)}
		e.waiters = append(e.waiters, w)
	}
	e.mu.Unlock()
	clear := func() {
		e.mu.Lock()
		if e.pending == p {
			e.pending = nil
		}
		e.removeWaiter(w)
		e.mu.Unlock()
	}
	// abandon gives up on a command already on the wire.
	abandon := func(err error) (*Response, error) {
		clear()
		e.desync(commandName(c.Text) + " abandoned: " + err.Error())
		return nil, err
	}

	e.traceCommand(c)
	if _, err := e.rw.Write([]byte(c.Text + e.opts.LineEnd)); err != nil {
		return abandon(fmt.Errorf("write: %w", err))
	}
	if c.Payload != nil {
		select {
		case <-p.promptCh:
		case <-p.done:
		case <-ctx.Done():
			return abandon(ctx.Err())
		case <-e.closed:
			clear()
			return nil, e.Err()
		case <-timer.C:
			return abandon(fmt.Errorf("%w after %v waiting for the data prompt", ErrTimeout, timeout))
		}
		select {
		case <-p.done: // an error final instead of the prompt
		default:
			if c.PromptDelay > 0 {
				time.Sleep(c.PromptDelay)
			}
			e.traceData(true, TracePayload, c.Payload)
			if _, err := e.rw.Write(c.Payload); err != nil {
				return abandon(fmt.Errorf("write data: %w", err))
			}
		}
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return abandon(ctx.Err())
	case <-e.closed:
		clear()
		return nil, e.Err()
	case <-timer.C:
		return abandon(fmt.Errorf("%w after %v waiting for the final result", ErrTimeout, timeout))
	}
	if p.err != nil {
		clear()
		return nil, p.err
	}
	if !mode.anyFinal && !mode.sentinel {
		e.learnEcho(c.Text)
	}
	resp := &p.resp
	if w == nil {
		return resp, nil
	}

	// Phase two: free the line, wait for the result URC.
	release()
	at := c.AwaitTimeout
	if at <= 0 {
		at = timeout
	}
	timer.Reset(at)
	select {
	case resp.Result = <-w.ch:
		return resp, nil
	case err := <-w.fail:
		return nil, err
	case <-ctx.Done():
		clear()
		return nil, ctx.Err()
	case <-e.closed:
		clear()
		return nil, e.Err()
	case <-timer.C:
		clear()
		return nil, fmt.Errorf("%w after %v waiting for the result after %s", ErrTimeout, at, resp.Final)
	}
}

// Run is Do for a command with only a text and the default timeout.
func (e *Engine) Run(ctx context.Context, text string) (*Response, error) {
	return e.Do(ctx, Command{Text: text})
}

// removeWaiter drops w; e.mu must be held. w may be nil.
func (e *Engine) removeWaiter(w *waiter) {
	if w == nil {
		return
	}
	for i, x := range e.waiters {
		if x == w {
			e.waiters = append(e.waiters[:i], e.waiters[i+1:]...)
			return
		}
	}
}
