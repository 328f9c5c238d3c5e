package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
)

func echoStream(c *C) driver.Conn { return c.stream(peer.Command{Op: peer.OpEcho}) }

func pingStream(c *C, conn driver.Conn) { c.echoOnce(conn, []byte("ping")) }

func caseConnectEcho(c *C) {
	conn := echoStream(c)
	c.echoOnce(conn, []byte("hello, conformance"))
	// Size sweep in one connection: 1..64 bytes and a few larger writes.
	for n := 1; n <= 64; n++ {
		c.echoOnce(conn, pattern(n, n))
	}
	for _, n := range []int{1000, 2048, 16 << 10} {
		c.echoOnce(conn, pattern(n, n))
	}
}

// caseLargeTransfer writes 1 MiB while reading the echo concurrently (a
// writer and a reader on one conn at once), in chunks of varied sizes.
func caseLargeTransfer(c *C) {
	conn := echoStream(c)
	const total = 1 << 20
	data := pattern(total, 7)
	c.requireNoErr(conn.SetDeadline(time.Now().Add(c.guard())), "SetDeadline")
	werr := make(chan error, 1)
	go func() {
		off, k := 0, 1
		for off < total {
			n := min(k, total-off)
			if _, err := conn.Write(data[off : off+n]); err != nil {
				werr <- fmt.Errorf("write at offset %d: %w", off, err)
				return
			}
			off += n
			k = k*3%40000 + 1
		}
		werr <- nil
	}()
	got := make([]byte, total)
	_, rerr := io.ReadFull(conn, got)
	c.expectNoErr(wait(c, werr, "concurrent writer"), "writer")
	c.requireNoErr(rerr, "reading the echo of 1 MiB")
	c.expectf(bytes.Equal(data, got), "echo differs from what was sent, first at byte %d of %d", firstDiff(data, got), total)
}

// casePeerFIN: an orderly close after data reads as all the data, then io.EOF.
func casePeerFIN(c *C) {
	const n = 256 << 10
	conn := c.stream(peer.Command{Op: peer.OpChargen, N: n})
	c.requireNoErr(conn.SetReadDeadline(time.Now().Add(c.guard())), "SetReadDeadline")
	got, err := io.ReadAll(conn)
	c.requireNoErr(err, "reading until the peer's orderly close must end in io.EOF")
	c.requiref(len(got) == n, "read %d bytes before EOF, the peer sent %d", len(got), n)
	for i, b := range got {
		if b != peer.Pattern(i) {
			c.Errorf("byte %d is %d, want %d", i, b, peer.Pattern(i))
			break
		}
	}
	_, err = conn.Read(make([]byte, 8))
	c.expectf(err == io.EOF, "a Read after EOF must return io.EOF again, got %v", err)
}

// casePeerReset: an abortive close reads as driver.ErrReset, never io.EOF.
func casePeerReset(c *C) {
	conn := c.stream(peer.Command{Op: peer.OpRST})
	c.requireNoErr(conn.SetReadDeadline(time.Now().Add(c.guard())), "SetReadDeadline")
	_, err := io.ReadAll(conn)
	c.requiref(err != nil, "a connection the peer reset read as a clean io.EOF")
	c.expectIs(err, driver.ErrReset, "Read after the peer's RST")
	c.expectNotIs(err, io.EOF, "Read after the peer's RST")
}

func caseRefused(c *C) {
	addr, err := closedPort()
	c.requireNoErr(err, "find a closed port")
	conn, err := c.s.dialer.Dial(c.ctx, driver.Stream, addr)
	if err == nil {
		_ = conn.Close()
	}
	c.expectIs(err, driver.ErrRefused, "Dial to a closed port")
}

func caseUnresolvable(c *C) {
	ctx, cancel := context.WithTimeout(c.ctx, c.guard())
	defer cancel()
	// .invalid never resolves (RFC 6761).
	conn, err := c.s.dialer.Dial(ctx, driver.Stream, "no-such-host.invalid:443")
	if err == nil {
		_ = conn.Close()
	}
	c.expectIs(err, driver.ErrUnreachable, "Dial to a name that does not resolve")
}

// caseWriteDeadline fills a peer that reads nothing until Write times out.
func caseWriteDeadline(c *C) {
	conn := c.stream(peer.Command{Op: peer.OpHold})
	c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(200*time.Millisecond)), "SetWriteDeadline")
	errc := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		var err error
		for sent := 0; err == nil && sent < 1<<30; sent += len(chunk) {
			_, err = conn.Write(chunk)
		}
		errc <- err
	}()
	err := wait(c, errc, "Write with a 200ms deadline to a peer that reads nothing (deadline ignored?)")
	c.isTimeout(err, "Write to a peer that reads nothing")
}

func caseCloseUnblocksWrite(c *C) {
	conn := c.stream(peer.Command{Op: peer.OpHold})
	errc := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < 1<<30; sent += len(chunk) {
			if _, err := conn.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		errc <- errors.New("1 GiB written to a peer that reads nothing")
	}()
	time.Sleep(100 * time.Millisecond) // let Write block; correctness does not depend on it
	c.requireNoErr(conn.Close(), "Close")
	err := wait(c, errc, "Write pending during Close")
	c.expectIs(err, net.ErrClosed, "a Write unblocked by Close")
}

// caseParallelConns runs four echo connections at once.
func caseParallelConns(c *C) {
	const conns, size = 4, 64 << 10
	var wg sync.WaitGroup
	for i := range conns {
		conn := echoStream(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := pattern(size, i*31)
			if err := conn.SetDeadline(time.Now().Add(c.guard())); err != nil {
				c.Errorf("conn %d: SetDeadline: %v", i, err)
				return
			}
			werr := make(chan error, 1)
			go func() { _, err := conn.Write(msg); werr <- err }()
			got := make([]byte, size)
			if _, err := io.ReadFull(conn, got); err != nil {
				c.Errorf("conn %d: read: %v", i, err)
			} else if !bytes.Equal(msg, got) {
				c.Errorf("conn %d: echo differs (cross-talk or corruption)", i)
			}
			if err := <-werr; err != nil {
				c.Errorf("conn %d: write: %v", i, err)
			}
		}()
	}
	wg.Wait()
}
