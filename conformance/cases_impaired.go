package conformance

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
)

// caseFragmentedPath echoes through a relay that cuts both directions into
// 1..8-byte pieces with pauses: a driver (or its TLS layer) must reassemble
// whatever pieces arrive.
func caseFragmentedPath(c *C) {
	relay, err := peer.NewStreamRelay(c.s.stream.Addr(), peer.Fragmentation{MaxChunk: 8, Pause: 0.01, Seed: 16})
	c.requireNoErr(err, "start the fragmenting relay")
	c.Cleanup(func() { _ = relay.Close() })
	conn := c.dial(driver.Stream, relay.Addr())
	c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(c.guard())), "SetWriteDeadline")
	_, err = conn.Write(peer.Command{Op: peer.OpEcho}.Line())
	c.requireNoErr(err, "write the peer command")
	for _, n := range []int{1, 7, 100, 1500, 16 << 10} {
		c.echoOnce(conn, pattern(n, n))
	}
}

// caseReorderDuplicate sends a burst through a relay that reorders and
// duplicates datagrams but loses none: every datagram must arrive, whole.
func caseReorderDuplicate(c *C) {
	relay, err := peer.NewRelay(c.s.dgramAddr, peer.Faults{Duplicate: 0.2, Reorder: 0.2, ReorderDelay: 5 * time.Millisecond, Seed: 10})
	c.requireNoErr(err, "start the fault relay")
	c.Cleanup(func() { _ = relay.Close() })
	conn := c.dial(driver.Datagram, relay.Addr())
	const count = 30
	sent := map[string]bool{}
	for i := range count {
		msg := fmt.Appendf(pattern(48, i), "seq %03d", i)
		sent[string(msg)] = true
		c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(c.guard())), "SetWriteDeadline")
		_, err := conn.Write(msg)
		c.requireNoErr(err, "Write of datagram %d", i)
		// Pace the burst so that loopback socket buffers never overflow:
		// this case is about order and duplicates, not loss.
		time.Sleep(time.Millisecond)
	}
	got := map[string]bool{}
	buf := make([]byte, 2048)
	for len(got) < count {
		c.requireNoErr(conn.SetReadDeadline(time.Now().Add(time.Second)), "SetReadDeadline")
		n, err := conn.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		c.requireNoErr(err, "Read through a reordering link")
		c.requiref(sent[string(buf[:n])], "received %d bytes that were never sent whole", n)
		got[string(buf[:n])] = true
	}
	c.expectf(len(got) == count, "%d of %d datagrams arrived through a link that loses none", len(got), count)
}

// leakBurst is the number of dial/echo/close cycles of the leak cases;
// leakSlack is how many more goroutines than before the burst are
// tolerated afterwards (runtime and peer goroutines that come and go).
const (
	leakBurst = 16
	leakSlack = 4
)

// caseNoLeak counts the process's goroutines before and after a burst of
// dial/echo/close cycles. It sees the goroutines of in-process drivers;
// a plugin's live in its own process. The goroutines of the suite's peers
// count too, so the slack allows for those that end a moment late.
func caseNoLeak(c *C, open func(*C) driver.Conn, ping func(*C, driver.Conn)) {
	cycle := func() {
		conn := open(c)
		ping(c, conn)
		// Goroutines that wait for a deadline and end with it (pion's)
		// are not leaks: clearing the deadlines ends them before Close.
		c.requireNoErr(conn.SetDeadline(time.Time{}), "SetDeadline(zero)")
		c.requireNoErr(conn.Close(), "Close")
	}
	cycle() // warm up: lazily started goroutines are not leaks
	before := settledGoroutines(0, c.guard())
	for range leakBurst {
		cycle()
	}
	after := settledGoroutines(before+leakSlack, c.guard())
	c.expectf(after <= before+leakSlack, "%d goroutines before %d dial/echo/close cycles, %d after: conns leave goroutines behind; goroutines by creator:\n%s",
		before, leakBurst, after, goroutinesByCreator())
}

// goroutinesByCreator summarises the process's goroutines by the function
// that created them, most first: where to look for a leak.
func goroutinesByCreator() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	counts := map[string]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		creator := "(no creator: main or runtime)"
		if _, after, ok := strings.Cut(g, "\ncreated by "); ok {
			creator, _, _ = strings.Cut(after, "\n")
			creator, _, _ = strings.Cut(creator, " in goroutine")
		}
		counts[creator]++
	}
	lines := make([]string, 0, len(counts))
	for k, n := range counts {
		lines = append(lines, fmt.Sprintf("%5d  %s", n, k))
	}
	slices.Sort(lines)
	slices.Reverse(lines)
	return strings.Join(lines, "\n")
}

// settledGoroutines samples runtime.NumGoroutine until it is at most want
// (want > 0) or, for want 0, until it has stopped falling for a while, and
// returns the last count. It gives up after limit: goroutines of the
// in-process peers (a DTLS server's handshake and deadline timers) may
// take a moment to end, a leak never does.
func settledGoroutines(want int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	n, stable := runtime.NumGoroutine(), 0
	for time.Now().Before(deadline) && (want > 0 || stable < 10) {
		if want > 0 && n <= want {
			return n
		}
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m >= n {
			stable++
		} else {
			stable = 0
		}
		n = m
	}
	return n
}
