package conformance

import (
	"io"
	"net"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// The cases below hold for every transport; open returns a conn to an
// echo peer (ECHO for streams, the datagram echo for datagrams) and ping
// checks that it still echoes.

func caseAddresses(c *C, open func(*C) driver.Conn) {
	conn := open(c)
	for _, a := range []struct {
		name string
		addr net.Addr
	}{{"LocalAddr", conn.LocalAddr()}, {"RemoteAddr", conn.RemoteAddr()}} {
		if !c.expectf(a.addr != nil, "%s must never be nil", a.name) {
			continue
		}
		c.expectf(a.addr.Network() != "", "%s().Network() is empty", a.name)
		c.expectf(a.addr.String() != "", "%s().String() is empty", a.name)
	}
}

func caseReadDeadline(c *C, open func(*C) driver.Conn, ping func(*C, driver.Conn)) {
	conn := open(c)
	c.requireNoErr(conn.SetReadDeadline(time.Now().Add(100*time.Millisecond)), "SetReadDeadline")
	r := wait(c, readAsync(conn, 64), "a Read with a 100ms deadline and nothing to read (deadline ignored?)")
	c.isTimeout(r.err, "Read")
	// Extending the deadline after a timeout makes the conn usable again.
	c.requireNoErr(conn.SetReadDeadline(time.Time{}), "SetReadDeadline(zero)")
	ping(c, conn)
}

func casePastDeadline(c *C, open func(*C) driver.Conn, ping func(*C, driver.Conn)) {
	conn := open(c)
	c.requireNoErr(conn.SetReadDeadline(time.Now().Add(-time.Second)), "SetReadDeadline(past)")
	r := wait(c, readAsync(conn, 64), "a Read with a deadline in the past (deadline ignored?)")
	c.isTimeout(r.err, "Read with a deadline in the past")
	c.requireNoErr(conn.SetReadDeadline(time.Time{}), "SetReadDeadline(zero)")
	ping(c, conn)
	// A write timeout may leave a secure conn unusable for writing (TLS
	// does), so it is checked last.
	c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(-time.Second)), "SetWriteDeadline(past)")
	_, err := conn.Write([]byte("late"))
	c.isTimeout(err, "Write with a deadline in the past")
}

func caseCloseUnblocksRead(c *C, open func(*C) driver.Conn) {
	conn := open(c)
	rc := readAsync(conn, 64)
	time.Sleep(50 * time.Millisecond) // let Read block; correctness does not depend on it
	c.requireNoErr(conn.Close(), "Close")
	r := wait(c, rc, "Read pending during Close")
	c.expectIs(r.err, net.ErrClosed, "a Read unblocked by Close")
}

func caseCloseTwice(c *C, open func(*C) driver.Conn) {
	conn := open(c)
	c.requireNoErr(conn.Close(), "first Close")
	if err := conn.Close(); err != nil {
		c.expectIs(err, net.ErrClosed, "a second Close returns nil or net.ErrClosed")
	}
	_, err := conn.Read(make([]byte, 8))
	c.expectIs(err, net.ErrClosed, "Read after Close")
	c.expectNotIs(err, io.EOF, "Read after Close")
	_, err = conn.Write([]byte("x"))
	c.expectIs(err, net.ErrClosed, "Write after Close")
}
