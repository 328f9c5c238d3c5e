package websocket

import (
	"context"
	"errors"
	"sync"
	"time"
)

// deadline is one direction's deadline, kept as a context so that the
// runtime's timer does the waiting. Setting it cancels the context before,
// which wakes whoever waits on done: a waiter re-checks passed and, if the
// new deadline has not passed, waits on the new done.
type deadline struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
}

func newDeadline() *deadline {
	d := &deadline{}
	d.set(time.Time{})
	return d
}

// set arms the deadline for t; the zero time disarms it, a time in the
// past makes it pass at once.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		d.cancel()
	}
	if t.IsZero() {
		d.ctx, d.cancel = context.WithCancel(context.Background())
	} else {
		d.ctx, d.cancel = context.WithDeadline(context.Background(), t)
	}
}

// done is closed when the deadline passes or is set again.
func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ctx.Done()
}

// passed reports whether the current deadline has passed.
func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return errors.Is(d.ctx.Err(), context.DeadlineExceeded)
}

// stop releases the timer.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cancel()
}
