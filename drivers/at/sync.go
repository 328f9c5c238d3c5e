package at

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Keeping answers with their commands.
//
// The module answers the lines it reads in the order it reads them, and the
// wire says nothing about which line an answer is for. The engine counts:
// the next final result is the pending command's. The count breaks when the
// module answers a line that was no command of the engine's (the ESC and
// CR that end a half-typed command or a prompt, "+++", a half-typed
// command a crashed process left in the module's buffer) or when the engine
// stops waiting for an answer that comes later (a timeout). From then on
// every command would take the previous one's answer. So the engine marks
// the line out of step whenever that may have happened:
//
//   - a command on the wire is abandoned (timeout, ctx, failed write);
//   - bytes are written outside a command (ESC, "+++": [Engine.WriteRaw]);
//   - a final result arrives with no command pending, or before the echo
//     of the pending command while the module echoes;
//   - the module reboots mid-command ([Engine.interrupt]);
//
// and before the next command it resyncs with an exchange whose answer it
// recognises whatever came before:
//
//  1. "ATE1", and any final result ends the wait (it may be a stale one);
//  2. "AT+IOTDSYNC=<n>", n new for every exchange. With echo on (step 1)
//     the module sends back the line as it read it, and nothing before
//     that echo can be its answer: every stale final result was sent
//     before the module read the sentinel. The echo carries n, so not even
//     a late answer to an earlier sentinel is taken for this one. No
//     module knows the command, so it answers ERROR (or +CME ERROR),
//     which ends the exchange: the line is in step;
//  3. "ATE0" if the engine's user had turned echo off.
//
// Why echo and not an answer: the sentinel must be something every module
// sends back with text the host chose. The only commands ESP-AT shares with
// the cellular modules are AT and ATE (it has no S-parameters, whose read
// answers are the usual V.250 choice), and none of the common commands
// answers with a value the host chose; the echo of a line is exactly that,
// on every module (V.250 E1; ESP-AT ATE1, its power-on default). The
// sentinel depends on no module setting: step 1 turns echo on itself, and a
// module that answered ERROR to step 1 (a half-typed command swallowed it)
// is given another try.
//
// Known limit: a module stuck in a fixed-length data prompt (AT+QISEND=0,N
// whose prompt the engine missed) takes the resync lines as data; each try
// feeds it more, and the exchange succeeds once it is satisfied.

// echoState is what the engine knows of the module's echo.
type echoState int

const (
	echoUnknown echoState = iota
	echoOn
	echoOff
)

// Resync timing: a step is one short command, answered at once by every
// module; the tries cover a module that swallowed step 1, or that is busy
// or stalled for a few seconds (about what the engine waited for before).
const (
	resyncStep  = time.Second
	resyncTries = 5
)

// sentinelPrefix starts the resync sentinel, a command no module knows.
const sentinelPrefix = "AT+IOTDSYNC="

func sentinelText(n int) string { return sentinelPrefix + strconv.Itoa(n) }

// desync marks the line out of step: the next command resyncs first.
func (e *Engine) desync(why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.desyncLocked(why)
}

func (e *Engine) desyncLocked(why string) {
	if !e.outOfStep {
		e.log.Debug("at: line out of step; resync before the next command", "why", why)
	}
	e.outOfStep = true
	// A reboot turns echo on, a swallowed ATE may have changed it.
	e.echo = echoUnknown
}

// OutOfStep reports whether the engine will resync before the next command.
func (e *Engine) OutOfStep() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.outOfStep
}

// Interrupt fails the pending command and every two-phase waiter with err
// (the module rebooted: their answers will never come) and marks the line
// out of step. It does not block; URC handlers may call it.
func (e *Engine) Interrupt(err error) {
	e.mu.Lock()
	p, ws := e.pending, e.waiters
	e.pending, e.waiters = nil, nil
	e.desyncLocked(err.Error())
	e.mu.Unlock()
	if p != nil {
		p.finish("", err)
	}
	for _, w := range ws {
		select {
		case w.fail <- err:
		default:
		}
	}
}

// WriteRaw writes p outside any command (ESC, "+++"), holding the line so
// that it cuts into no command, and marks the line out of step: the module
// may answer it.
func (e *Engine) WriteRaw(ctx context.Context, p []byte) error {
	release, err := e.acquire(ctx, e.opts.Timeout)
	if err != nil {
		return err
	}
	defer release()
	e.desync(fmt.Sprintf("%d raw bytes written", len(p)))
	e.traceRaw(p)
	if _, err := e.rw.Write(p); err != nil {
		return fmt.Errorf("at: write: %w", err)
	}
	return nil
}

// learnEcho notes the echo setting a successful command asked for.
func (e *Engine) learnEcho(text string) {
	var s echoState
	switch strings.ToUpper(text) {
	case "ATE0", "ATE":
		s = echoOff
	case "ATE1":
		s = echoOn
	default:
		return
	}
	e.mu.Lock()
	e.echo, e.echoWant = s, s
	e.mu.Unlock()
}

// Resync runs the resync exchange now (see the package documentation):
// afterwards an answer on the line is the next command's. A new engine
// assumes the line is in step; call Resync first when it may not be (a
// process restarted with the modem left as it was). The engine also
// resyncs by itself before the next command whenever the line may have
// fallen out of step.
func (e *Engine) Resync(ctx context.Context) error {
	release, err := e.acquire(ctx, resyncStep*2*resyncTries)
	if err != nil {
		return fmt.Errorf("at: resync: %w", err)
	}
	defer release()
	e.desync("resync asked for")
	return e.resync(ctx)
}

// resyncIfNeeded resyncs when the line is out of step; the line is held.
func (e *Engine) resyncIfNeeded(ctx context.Context) error {
	if !e.OutOfStep() {
		return nil
	}
	return e.resync(ctx)
}

// resync runs the exchange; the caller holds the line.
func (e *Engine) resync(ctx context.Context) error {
	nop := func() {}
	fatal := func(err error) bool { return ctx.Err() != nil || errors.Is(err, ErrClosed) }
	var last error
	for range resyncTries {
		if _, err := e.exchange(ctx, Command{Text: "ATE1", Prefix: "-"}, resyncStep, nop, exchangeMode{anyFinal: true}); err != nil {
			if fatal(err) {
				return fmt.Errorf("at: resync: %w", err)
			}
			last = err
			continue
		}
		e.mu.Lock()
		e.syncSeq++
		text := sentinelText(e.syncSeq)
		e.mu.Unlock()
		if _, err := e.exchange(ctx, Command{Text: text, Prefix: "-"}, resyncStep, nop, exchangeMode{requireEcho: true, sentinel: true}); err != nil {
			if fatal(err) {
				return fmt.Errorf("at: resync: %w", err)
			}
			last = err
			continue
		}
		e.mu.Lock()
		want := e.echoWant
		e.mu.Unlock()
		if want == echoOff {
			if _, err := e.exchange(ctx, Command{Text: "ATE0"}, resyncStep, nop, exchangeMode{}); err != nil {
				return fmt.Errorf("at: resync: turning echo off again: %w", err)
			}
		}
		return nil
	}
	return fmt.Errorf("at: resync: the modem did not answer ATE1 and the sentinel %s in %d tries: check that it is powered and answers on this port: %w", sentinelPrefix+"<n>", resyncTries, last)
}
