// Package leakcheck finds the goroutines a piece of code left running.
//
// Tests used to compare runtime.NumGoroutine before and after: a count
// that a goroutine of the test's hub ending early can hide a leak behind,
// and that one starting late (an HTTP keep-alive connection parked a moment
// after its response was read) turns into a failure nobody can read, since
// the dump then lists every goroutine in the process. leakcheck compares
// goroutines by ID instead and reports, with their stacks, only those that
// started after the snapshot and are still running.
package leakcheck

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Snapshot is the set of goroutines running when it was taken.
type Snapshot struct {
	ids map[uint64]bool
}

// Take records the goroutines running now.
func Take() Snapshot {
	s := Snapshot{ids: map[uint64]bool{}}
	for _, g := range goroutines() {
		s.ids[g.id] = true
	}
	return s
}

// Check waits up to wait for every goroutine started since s to end, and
// fails t with their stacks if some have not. settle, if not nil, runs
// before every look: closing idle HTTP connections there reaps one that
// was parked after the last look.
//
// Check polls on the test's own goroutine: testify's Eventually would run
// its condition on goroutines of its own.
func (s Snapshot) Check(t testing.TB, wait time.Duration, settle func()) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		if settle != nil {
			settle()
		}
		left := s.started()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var b bytes.Buffer
			for _, g := range left {
				b.Write(g.stack)
				b.WriteString("\n\n")
			}
			t.Fatalf("%d goroutine(s) started since the snapshot still run after %v:\n%s", len(left), wait, b.Bytes())
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// started returns the running goroutines that s does not hold, except the
// caller's own.
func (s Snapshot) started() []goroutine {
	var left []goroutine
	for _, g := range goroutines() {
		if !s.ids[g.id] && !g.current {
			left = append(left, g)
		}
	}
	return left
}

type goroutine struct {
	id      uint64
	current bool // the goroutine that took the dump
	stack   []byte
}

// goroutines parses runtime.Stack's dump of every goroutine: blocks
// separated by blank lines, each starting "goroutine N [state]:", the
// caller's own first.
func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var gs []goroutine
	for i, block := range bytes.Split(buf, []byte("\n\n")) {
		rest, ok := bytes.CutPrefix(block, []byte("goroutine "))
		if !ok {
			continue
		}
		num, _, _ := bytes.Cut(rest, []byte(" "))
		id, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			continue
		}
		gs = append(gs, goroutine{id: id, current: i == 0, stack: block})
	}
	return gs
}
