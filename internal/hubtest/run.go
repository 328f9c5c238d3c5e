package hubtest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Run runs a feature's Run (or any function of that shape) for the test on
// a goroutine and returns the function that stops it: it cancels run's
// context and fails the test unless run returns nil within 10 seconds.
// Stop runs at the end of the test too; calling it again does nothing.
func Run(t testing.TB, run func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("hubtest: Run returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("hubtest: Run did not return within 10s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
