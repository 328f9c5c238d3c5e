package at

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var (
	// ErrError is the plain "ERROR" final result.
	ErrError = errors.New("at: ERROR")
	// ErrNoCarrier is the "NO CARRIER" final result.
	ErrNoCarrier = errors.New("at: NO CARRIER")
	// ErrTimeout means a command's final result (or a two-phase command's
	// result URC, or a prompt) did not arrive in time.
	ErrTimeout = errors.New("at: timeout")
	// ErrClosed means the engine was closed or its stream failed.
	ErrClosed = errors.New("at: engine closed")
)

// CMEError is "+CME ERROR: <n>" (3GPP TS 27.007 equipment error). Code is -1
// when the modem sent text (AT+CMEE=2); Text then holds it.
type CMEError struct {
	Code int
	Text string
}

func (e *CMEError) Error() string {
	if e.Code < 0 {
		return "at: +CME ERROR: " + e.Text
	}
	return "at: +CME ERROR: " + strconv.Itoa(e.Code)
}

// CMSError is "+CMS ERROR: <n>" (3GPP TS 27.005 message service error),
// shaped like [CMEError].
type CMSError struct {
	Code int
	Text string
}

func (e *CMSError) Error() string {
	if e.Code < 0 {
		return "at: +CMS ERROR: " + e.Text
	}
	return "at: +CMS ERROR: " + strconv.Itoa(e.Code)
}

// ResultError is a failing final result other than the ones above: a call
// result (BUSY, NO ANSWER, NO DIALTONE) or a vendor final registered in
// [Options.Finals] ("SEND FAIL"). Line is the whole line.
type ResultError struct {
	Line string
}

func (e *ResultError) Error() string { return "at: " + e.Line }

// CommandError wraps the failure of one command and names it. Name is the
// command up to its first '=' or '?' ("AT+CWJAP"): arguments may hold
// passwords, so they never appear in errors.
type CommandError struct {
	Name string
	Err  error
}

func (e *CommandError) Error() string { return fmt.Sprintf("at: %s: %v", e.Name, e.Err) }
func (e *CommandError) Unwrap() error { return e.Err }

// commandName is the command up to its arguments.
func commandName(text string) string {
	if i := strings.IndexAny(text, "=?"); i >= 0 {
		text = text[:i]
	}
	if len(text) > 32 {
		text = text[:32]
	}
	return strings.ToValidUTF8(text, "?")
}

// parseCode parses the code after a "+CME ERROR:" style prefix.
func parseCode(rest string) (int, string) {
	rest = strings.TrimSpace(rest)
	if n, err := strconv.Atoi(rest); err == nil && n >= 0 {
		return n, rest
	}
	return -1, rest
}
