package conformance

import (
	"bytes"
	"io"
	"net"
	"time"

	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
)

// baseGuard bounds a single blocking step inside a case (scaled by
// Harness.TimeScale); it only stops a hang and is never a timing assertion.
const baseGuard = 5 * time.Second

// guard is this run's bound on one blocking step.
func (c *C) guard() time.Duration { return c.s.guard }

// dial opens a conn of transport t to addr and closes it after the case.
func (c *C) dial(t driver.Transport, addr string) driver.Conn {
	conn, err := c.s.dialer.Dial(c.ctx, t, addr)
	c.requireNoErr(err, "Dial(%s, %s)", t, addr)
	c.requiref(conn != nil, "Dial(%s, %s) returned a nil Conn without an error", t, addr)
	c.Cleanup(func() { _ = conn.Close() })
	return conn
}

// stream dials the stream peer and sends cmd.
func (c *C) stream(cmd peer.Command) driver.Conn {
	conn := c.dial(driver.Stream, c.s.stream.Addr())
	c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(c.guard())), "SetWriteDeadline")
	_, err := conn.Write(cmd.Line())
	c.requireNoErr(err, "write the peer command %q", cmd)
	c.requireNoErr(conn.SetWriteDeadline(time.Time{}), "SetWriteDeadline(zero)")
	return conn
}

// datagram dials the datagram echo.
func (c *C) datagram() driver.Conn { return c.dial(driver.Datagram, c.s.dgramAddr) }

// pattern returns n bytes of a pattern that starts at offset seed.
func pattern(n, seed int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((i + seed) % 253)
	}
	return p
}

// readFull reads exactly len(p) bytes within the guard.
func (c *C) readFull(conn net.Conn, p []byte) {
	c.requireNoErr(conn.SetReadDeadline(time.Now().Add(c.guard())), "SetReadDeadline")
	n, err := io.ReadFull(conn, p)
	c.requireNoErr(err, "read %d bytes (got %d)", len(p), n)
}

// echoOnce writes msg on a stream conn and reads it back.
func (c *C) echoOnce(conn net.Conn, msg []byte) {
	c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(c.guard())), "SetWriteDeadline")
	_, err := conn.Write(msg)
	c.requireNoErr(err, "write %d bytes", len(msg))
	got := make([]byte, len(msg))
	c.readFull(conn, got)
	c.expectf(bytes.Equal(msg, got), "the echo of %d bytes differs from what was sent, first at byte %d", len(msg), firstDiff(msg, got))
}

// firstDiff returns the index of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// wait waits for ch within the guard, failing the case if it does not come.
func wait[T any](c *C, ch <-chan T, what string) T {
	select {
	case v := <-ch:
		return v
	case <-time.After(c.guard()):
		c.Fatalf("%s: still blocked after %v", what, c.guard())
	}
	panic("unreachable")
}

// readAsync runs one Read on conn in a goroutine and returns its outcome
// channel; the caller waits on it with [wait], so a Read that ignores its
// deadline fails the case instead of hanging it.
func readAsync(conn net.Conn, size int) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		n, err := conn.Read(make([]byte, size))
		ch <- readResult{n, err}
	}()
	return ch
}

type readResult struct {
	n   int
	err error
}
