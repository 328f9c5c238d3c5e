package core

import (
	"sync/atomic"
	"time"
)

// Clock is the daemon's idea of the hub's time: the local clock plus an
// offset learnt by time sync. Boards without a real-time clock often boot in
// 1970; signing a username with an expiry, or a gateway bind timestamp, needs
// the corrected time, not the local one. The zero value is the local clock.
// A Clock is safe for concurrent use.
type Clock struct {
	offset atomic.Int64 // nanoseconds to add to time.Now
	synced atomic.Int64 // unix nanoseconds of the last SetOffset, 0 = never
}

// Now returns the corrected time.
func (c *Clock) Now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()))
}

// Offset returns the current correction (server minus local).
func (c *Clock) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// SetOffset installs a new correction.
func (c *Clock) SetOffset(d time.Duration) {
	c.offset.Store(int64(d))
	c.synced.Store(time.Now().UnixNano())
}

// LastSync returns when SetOffset last ran, or the zero time.
func (c *Clock) LastSync() time.Time {
	n := c.synced.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
