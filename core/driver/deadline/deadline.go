// Package deadline implements the read and write deadlines of a
// [net.Conn] for a driver whose connection has none of its own: a modem's
// socket, a connection relayed over a pipe or an RPC stream, a WebSocket.
//
// It depends on the standard library only, so a vendor's driver may import
// it alongside core/driver and nothing else of iotd.
//
// A connection keeps one [Timer] per direction. SetReadDeadline calls Set on
// the read Timer; a Read checks [Timer.Passed] before it starts and, while
// it blocks, selects on [Timer.Done] next to whatever it waits for:
//
//	for {
//		if c.rd.Passed() {
//			return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
//		}
//		select {
//		case b := <-c.incoming:
//			return copy(p, b), nil
//		case <-c.closed:
//			return 0, net.ErrClosed
//		case <-c.rd.Done(): // passed; look again, it may have moved since
//		}
//	}
//
// Close calls [Timer.Stop] to release the timer.
package deadline

import (
	"sync"
	"time"
)

// Timer is one direction's deadline of a connection, with the semantics
// net.Conn documents for deadlines:
//
//   - Set(t) applies to pending and future operations: a call already
//     waiting on Done wakes when t passes.
//   - The zero time clears the deadline: Passed reports false and Done's
//     channel stays open until a later Set.
//   - A time in the past (or now) makes the deadline pass at once.
//   - Moving the deadline before it passes, later or earlier, keeps Done's
//     channel: a waiter keeps waiting, until the new time.
//   - Setting a deadline after one passed re-arms it: Passed reports false
//     again (unless the new time has passed too) and Done returns a new,
//     open channel. A waiter woken by the old channel checks Passed and
//     waits again on the new one.
//
// The zero Timer has no deadline and is ready to use. A Timer must not be
// copied after first use. Its methods are safe for concurrent use.
type Timer struct {
	mu     sync.Mutex  // guards the fields below
	timer  *time.Timer // pending; nil when none
	gen    uint64      // counts Set and Stop, so a stale timer func does nothing
	ch     chan struct{}
	passed bool // ch is closed
}

// Set moves the deadline to t: the zero time clears it, a time not after
// now makes it pass at once.
func (d *Timer) Set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
	if d.passed {
		d.ch, d.passed = nil, false
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		d.fireLocked()
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		// A Set or Stop since this timer was armed owns the deadline now;
		// time.Timer.Stop cannot recall a func that has already started.
		if d.gen == gen {
			d.timer = nil
			d.fireLocked()
		}
	})
}

// Done returns a channel that is closed when the current deadline passes.
// It stays closed until Set re-arms the deadline, which gives Done a new
// channel; with no deadline it never closes.
func (d *Timer) Done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chLocked()
}

// Passed reports whether the current deadline has passed: an operation
// starting now fails with os.ErrDeadlineExceeded.
func (d *Timer) Passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passed
}

// Stop releases the pending timer, for the connection's Close: a deadline
// that has not passed no longer will, one that has stays passed. A later
// Set arms the Timer again.
func (d *Timer) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

func (d *Timer) stopLocked() {
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

func (d *Timer) chLocked() chan struct{} {
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

func (d *Timer) fireLocked() {
	close(d.chLocked())
	d.passed = true
}
