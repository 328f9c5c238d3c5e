package conformance

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// Level is how binding a case is.
type Level string

// The case levels.
const (
	// Must cases are required for certification.
	Must Level = "MUST"
	// Should cases are recommended; a failure is a warning in the report.
	Should Level = "SHOULD"
)

// Status is a case's outcome.
type Status string

// The case outcomes.
const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
	// Excluded cases were left out by the operator's selection.
	Excluded Status = "excluded"
)

// caseTimeout bounds one case; a case still running then is failed. Each
// blocking step inside a case is bounded by the shorter guard, so only a
// case that hangs in several steps meets it.
const caseTimeout = 45 * time.Second

// Case is one conformance check.
type Case struct {
	// ID is stable across suite versions: "S05".
	ID string
	// Name says what is checked: "PeerReset".
	Name string
	// Level is MUST or SHOULD.
	Level Level
	// Transport is the transport the case exercises.
	Transport driver.Transport
	// Doc is a one-line statement of the rule checked.
	Doc string

	// applies returns "" when the case applies, else the reason it does not.
	// External marks a case whose body lives in a front end that has a
	// *testing.T (conformancetest runs S15 with golang.org/x/net/nettest);
	// [Run] reports it as skipped with that reason.
	External bool

	applies func(s *suite) string
	run     func(c *C)
}

// FullName is "ID_Name", the subtest and JUnit name.
func (k Case) FullName() string { return k.ID + "_" + k.Name }

// C is the state of one running case. FailNow, Fatalf and Skip end the
// case's goroutine and must only be called from it; helper goroutines
// report with Errorf.
type C struct {
	ctx context.Context
	s   *suite

	mu       sync.Mutex
	failures []string
	skip     string
	cleanups []func()
}

// Errorf records a failure and lets the case go on.
func (c *C) Errorf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures = append(c.failures, fmt.Sprintf(format, args...))
}

// FailNow ends the case as failed.
func (c *C) FailNow() {
	c.mu.Lock()
	if len(c.failures) == 0 {
		c.failures = append(c.failures, "failed")
	}
	c.mu.Unlock()
	runtime.Goexit()
}

// Skip ends the case as skipped for reason.
func (c *C) Skip(reason string) {
	c.mu.Lock()
	c.skip = reason
	c.mu.Unlock()
	runtime.Goexit()
}

// Context is the case's context, ended when the case times out.
func (c *C) Context() context.Context { return c.ctx }

// Cleanup registers f to run after the case, last registered first.
func (c *C) Cleanup(f func()) {
	c.mu.Lock()
	c.cleanups = append(c.cleanups, f)
	c.mu.Unlock()
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	ID        string           `json:"id"`
	Name      string           `json:"name"`
	Level     Level            `json:"level"`
	Transport driver.Transport `json:"transport"`
	Status    Status           `json:"status"`
	// Reason says why a case was skipped.
	Reason string `json:"reason,omitempty"`
	// Failures are the violations a failed case found.
	Failures []string `json:"failures,omitempty"`
	// Duration is the case's wall time.
	Duration time.Duration `json:"duration_ns"`
}

// runCase runs k in its own goroutine and collects its result. Cleanups
// run even when the case fails or times out.
func runCase(ctx context.Context, s *suite, k Case) (res CaseResult) {
	res = CaseResult{ID: k.ID, Name: k.Name, Level: k.Level, Transport: k.Transport}
	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()
	if reason := k.applies(s); reason != "" {
		res.Status, res.Reason = Skipped, reason
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	c := &C{ctx: ctx, s: s}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				c.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		k.run(c)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		c.Errorf("case did not finish within %v (%v)", caseTimeout, ctx.Err())
	}
	c.mu.Lock()
	cleanups := c.cleanups
	c.cleanups = nil
	c.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	select { // the cleanups closed the conns the case may be blocked on
	case <-done:
	case <-time.After(s.guard):
		c.Errorf("case still blocked after its connections were closed: a Close that does not unblock Read or Write?")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case len(c.failures) > 0:
		res.Status, res.Failures = Failed, c.failures
	case c.skip != "":
		res.Status, res.Reason = Skipped, c.skip
	default:
		res.Status = Passed
	}
	return res
}
