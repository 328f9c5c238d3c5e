package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
)

// dgramTries is how often a datagram is resent before a loopback echo is
// declared lost.
const dgramTries = 3

// exchange sends msg and waits for its echo, resending up to dgramTries
// times; stale echoes of earlier messages are skipped. Every datagram read
// must be exactly one whole datagram that was sent.
func (c *C) exchange(conn driver.Conn, msg []byte, sent map[string]bool) {
	c.exchangeTries(conn, msg, sent, dgramTries)
}

func (c *C) exchangeTries(conn driver.Conn, msg []byte, sent map[string]bool, tries int) {
	sent[string(msg)] = true
	buf := make([]byte, 64<<10+1)
	for try := 1; try <= tries; try++ {
		c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(c.guard())), "SetWriteDeadline")
		n, err := conn.Write(msg)
		c.requireNoErr(err, "Write of a %d-byte datagram", len(msg))
		c.requiref(n == len(msg), "Write of a %d-byte datagram returned n = %d: it must send all of p", len(msg), n)
		c.requireNoErr(conn.SetReadDeadline(time.Now().Add(time.Second)), "SetReadDeadline")
		for {
			n, err := conn.Read(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break // lost; resend
			}
			c.requireNoErr(err, "Read of an echoed datagram")
			got := buf[:n]
			if bytes.Equal(got, msg) {
				return
			}
			if !sent[string(got)] {
				c.Fatalf("Read returned %d bytes that are not one whole datagram sent (boundaries lost?)", n)
			}
		}
	}
	c.Errorf("no echo of a %d-byte datagram after %d tries", len(msg), tries)
}

func pingDatagram(c *C, conn driver.Conn) {
	c.exchange(conn, []byte(fmt.Sprintf("ping %d", time.Now().UnixNano())), map[string]bool{})
}

// maxPayload returns the conn's declared limit, or skips the case.
func (c *C) maxPayload(conn driver.Conn) int {
	mp, err := driver.Lookup[driver.MaxPayloader](conn)
	if err != nil {
		c.Skip("the conn declares no driver.MaxPayloader, so there is no size limit to check")
	}
	return mp.MaxPayload()
}

func caseDatagramEcho(c *C) {
	conn := c.datagram()
	sizes := []int{1, 2, 17, 100, 512, 1000, 1200}
	if mp, err := driver.Lookup[driver.MaxPayloader](conn); err == nil {
		sizes = append(sizes, min(mp.MaxPayload(), 65507))
	}
	sent := map[string]bool{}
	for _, n := range sizes {
		c.exchange(conn, pattern(n, n), sent)
	}
	// Two datagrams written back to back are read as two.
	c.exchange(conn, []byte("first"), sent)
	c.exchange(conn, []byte("second"), sent)
}

func caseShortBuffer(c *C) {
	conn := c.datagram()
	long := pattern(100, 3)
	sent := map[string]bool{string(long): true}
	buf := make([]byte, 10)
	var n int
	var err error
	for try := 1; try <= dgramTries; try++ {
		c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(c.guard())), "SetWriteDeadline")
		_, err = conn.Write(long)
		c.requireNoErr(err, "Write of a 100-byte datagram")
		c.requireNoErr(conn.SetReadDeadline(time.Now().Add(time.Second)), "SetReadDeadline")
		n, err = conn.Read(buf)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
	}
	c.expectIs(err, driver.ErrShortBuffer, "Read of a 100-byte datagram into 10 bytes")
	c.expectf(n == len(buf), "a truncated Read returned n = %d, want len(p) = %d", n, len(buf))
	c.expectf(bytes.Equal(long[:10], buf), "a truncated Read must hold the datagram's start: got %x, want %x", buf, long[:10])
	// The rest of the truncated datagram is gone: the next datagram reads whole.
	small := []byte("after the truncated one")
	big := make([]byte, 1024)
	for try := 1; try <= dgramTries; try++ {
		c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(c.guard())), "SetWriteDeadline")
		_, err = conn.Write(small)
		c.requireNoErr(err, "Write after a truncated datagram")
		c.requireNoErr(conn.SetReadDeadline(time.Now().Add(time.Second)), "SetReadDeadline")
		for {
			n, err = conn.Read(big)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			c.requireNoErr(err, "Read after a truncated datagram")
			if bytes.Equal(big[:n], small) {
				return
			}
			if !sent[string(big[:n])] {
				c.Fatalf("Read after a truncated datagram returned %q: the truncated remainder was not discarded", big[:n])
			}
		}
	}
	c.Errorf("no echo after the truncated datagram")
}

func caseTooLarge(c *C) {
	conn := c.datagram()
	limit := c.maxPayload(conn)
	c.requiref(limit > 0, "MaxPayload() = %d, want a positive size", limit)
	c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(c.guard())), "SetWriteDeadline")
	n, err := conn.Write(make([]byte, limit+1))
	c.expectIs(err, driver.ErrTooLarge, "Write of MaxPayload()+1 bytes")
	c.expectf(n == 0, "a too-large Write returned n = %d: nothing may be sent", n)
	if limit <= 65507 {
		n, err = conn.Write(make([]byte, limit))
		c.expectNoErr(err, "Write of exactly MaxPayload() bytes")
		c.expectf(n == limit, "Write of MaxPayload() = %d bytes returned n = %d", limit, n)
	}
}

// caseImpairedLink runs datagrams through the fault-injecting relay: loss,
// duplication and reordering are tolerated, corruption and io.EOF are not.
func caseImpairedLink(c *C) {
	relay, err := peer.NewRelay(c.s.dgramAddr, peer.Faults{
		Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Latency: 2 * time.Millisecond, Seed: 6,
	})
	c.requireNoErr(err, "start the fault relay")
	c.Cleanup(func() { _ = relay.Close() })
	conn := c.dial(driver.Datagram, relay.Addr())
	const count = 40
	sent := map[string]bool{}
	for i := range count {
		msg := fmt.Appendf(pattern(64, i), "seq %03d", i)
		sent[string(msg)] = true
		c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(c.guard())), "SetWriteDeadline")
		_, err := conn.Write(msg)
		c.requireNoErr(err, "Write through a lossy link")
	}
	got := map[string]bool{}
	buf := make([]byte, 2048)
	for {
		c.requireNoErr(conn.SetReadDeadline(time.Now().Add(time.Second)), "SetReadDeadline")
		n, err := conn.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		c.requiref(!errors.Is(err, io.EOF), "Read through a lossy link returned io.EOF: datagram conns never do")
		c.requireNoErr(err, "Read through a lossy link")
		if !sent[string(buf[:n])] {
			c.Errorf("received %d bytes that were never sent whole", n)
			continue
		}
		got[string(buf[:n])] = true
	}
	c.expectf(len(got) > 0, "nothing at all arrived through a link losing 10%% each way")
	// The conn is still usable after the lossy burst.
	c.exchangeTries(conn, []byte("still there?"), sent, 20)
}
