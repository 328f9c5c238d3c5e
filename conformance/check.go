package conformance

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
)

// The checks below are the suite's own assertions. The suite does not use
// testify or package testing, so that a binary (iotd conformance) can run
// it without linking them. "require" checks end the case on failure,
// "expect" checks record the failure and let the case go on.

// Fatalf records a failure and ends the case.
func (c *C) Fatalf(format string, args ...any) {
	c.Errorf(format, args...)
	c.FailNow()
}

// requireNoErr ends the case when err is not nil.
func (c *C) requireNoErr(err error, format string, args ...any) {
	if err != nil {
		c.Fatalf("%s: unexpected error: %v", fmt.Sprintf(format, args...), err)
	}
}

// requiref ends the case when ok is false.
func (c *C) requiref(ok bool, format string, args ...any) {
	if !ok {
		c.Fatalf(format, args...)
	}
}

// expectf records a failure when ok is false and reports ok.
func (c *C) expectf(ok bool, format string, args ...any) bool {
	if !ok {
		c.Errorf(format, args...)
	}
	return ok
}

// expectNoErr records a failure when err is not nil.
func (c *C) expectNoErr(err error, format string, args ...any) bool {
	return c.expectf(err == nil, "%s: unexpected error: %v", fmt.Sprintf(format, args...), err)
}

// expectIs records a failure unless errors.Is(err, target).
func (c *C) expectIs(err, target error, format string, args ...any) bool {
	if errors.Is(err, target) {
		return true
	}
	what := fmt.Sprintf(format, args...)
	if err == nil {
		c.Errorf("%s: no error, want one wrapping %q", what, target)
	} else {
		c.Errorf("%s: error %q (%T) does not wrap %q", what, err, err, target)
	}
	return false
}

// expectNotIs records a failure when errors.Is(err, target).
func (c *C) expectNotIs(err, target error, format string, args ...any) bool {
	return c.expectf(!errors.Is(err, target), "%s: error %q must not wrap %q", fmt.Sprintf(format, args...), err, target)
}

// isTimeout checks the contract's deadline error: os.ErrDeadlineExceeded
// and a net.Error whose Timeout() is true, never io.EOF.
func (c *C) isTimeout(err error, op string) {
	c.requiref(err != nil, "%s past its deadline must fail, but it returned no error", op)
	c.expectIs(err, os.ErrDeadlineExceeded, "%s past its deadline", op)
	var ne net.Error
	if c.expectf(errors.As(err, &ne), "%s past its deadline: %T does not implement net.Error", op, err) {
		c.expectf(ne.Timeout(), "%s past its deadline: net.Error.Timeout() is false", op)
	}
	c.expectNotIs(err, io.EOF, "%s past its deadline", op)
}
