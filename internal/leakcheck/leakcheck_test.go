package leakcheck

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps Fatalf's message instead of ending
// the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func parked(stop <-chan struct{}) { <-stop }

func TestReportsAGoroutineStartedAfterTheSnapshot(t *testing.T) {
	s := Take()
	stop := make(chan struct{})
	defer close(stop)
	go parked(stop)
	r := &recorder{TB: t}
	s.Check(r, 50*time.Millisecond, nil)
	if !strings.Contains(r.failed, "1 goroutine(s)") || !strings.Contains(r.failed, "leakcheck.parked") {
		t.Fatalf("want the parked goroutine reported, got %q", r.failed)
	}
}

func TestIgnoresGoroutinesOlderThanTheSnapshot(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	go parked(stop)
	s := Take()
	r := &recorder{TB: t}
	s.Check(r, 50*time.Millisecond, nil)
	if r.failed != "" {
		t.Fatalf("a goroutine running before the snapshot was reported: %s", r.failed)
	}
}

// A goroutine that ends while Check waits, and settle that runs before
// every look, are what let a test reap what it started.
func TestWaitsForGoroutinesToEndAndRunsSettle(t *testing.T) {
	s := Take()
	stop := make(chan struct{})
	var ended sync.WaitGroup
	ended.Go(func() { parked(stop) })
	looks := 0
	r := &recorder{TB: t}
	s.Check(r, 10*time.Second, func() {
		looks++
		if looks == 3 {
			close(stop)
		}
	})
	ended.Wait()
	if r.failed != "" {
		t.Fatalf("the goroutine ended but was reported: %s", r.failed)
	}
	if looks < 3 {
		t.Fatalf("settle ran %d times, want at least 3", looks)
	}
}

func TestParsesEveryGoroutine(t *testing.T) {
	gs := goroutines()
	if len(gs) < 2 {
		t.Fatalf("parsed %d goroutines, want at least this test's and its runner's", len(gs))
	}
	if !gs[0].current || !strings.Contains(string(gs[0].stack), "TestParsesEveryGoroutine") {
		t.Fatalf("the first goroutine is not the caller's:\n%s", gs[0].stack)
	}
	seen := map[uint64]bool{}
	for _, g := range gs {
		if seen[g.id] {
			t.Fatalf("goroutine %d parsed twice", g.id)
		}
		seen[g.id] = true
	}
}
