package conformance

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core/driver"
)

func needsLifecycle(s *suite) string {
	if s.h.Lifecycle == nil {
		return "the driver runs in this process (the harness has no Lifecycle hook)"
	}
	return ""
}

func needsModem(s *suite) string {
	if s.h.Modem == nil {
		return "the harness has no Modem hook (not an AT driver on a simulated modem)"
	}
	return ""
}

// echoConn opens a conn to the suite's echo peer over the driver's first
// transport, with a dialer d, and returns it with its ping.
func (c *C) echoConn(d driver.Dialer) (driver.Conn, func(*C, driver.Conn)) {
	t, addr, ping := driver.Stream, "", pingStream
	if c.s.has(driver.Stream) {
		addr = c.s.stream.Addr()
	} else {
		t, addr, ping = driver.Datagram, c.s.dgramAddr, pingDatagram
	}
	conn, err := d.Dial(c.ctx, t, addr)
	c.requireNoErr(err, "Dial(%s, %s)", t, addr)
	c.requiref(conn != nil, "Dial returned a nil Conn without an error")
	c.Cleanup(func() { _ = conn.Close() })
	if t == driver.Stream {
		c.requireNoErr(conn.SetWriteDeadline(time.Now().Add(c.guard())), "SetWriteDeadline")
		_, err = conn.Write(peer.Command{Op: peer.OpEcho}.Line())
		c.requireNoErr(err, "write the peer command")
	}
	return conn, ping
}

// failsBadConn disturbs the driver while a Read is pending on an open
// conn and checks that the Read, and later calls, fail with ErrBadConn.
func failsBadConn(c *C, what string, disturb func() error) {
	conn, ping := c.echoConn(c.s.dialer)
	ping(c, conn)
	c.requireNoErr(conn.SetReadDeadline(time.Time{}), "SetReadDeadline(zero)")
	rc := readAsync(conn, 64)
	time.Sleep(50 * time.Millisecond) // let Read block; correctness does not depend on it
	c.requireNoErr(disturb(), "%s", what)
	r := wait(c, rc, "Read pending during "+what)
	c.expectIs(r.err, driver.ErrBadConn, "a Read pending during %s", what)
	_, err := conn.Write([]byte("after"))
	c.expectIs(err, driver.ErrBadConn, "a Write after %s", what)
	c.expectNoErr(ignoreClosed(conn.Close()), "Close after %s", what)
}

func ignoreClosed(err error) error {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// redial dials with d until it works, for at most the guard: the driver
// may need a moment to re-initialise, and retrying is the framework's job.
func (c *C) redial(open func() (driver.Dialer, error)) {
	ctx, cancel := context.WithTimeout(c.ctx, c.guard())
	defer cancel()
	var last error
	for ctx.Err() == nil {
		d, err := open()
		if err == nil {
			t := driver.Stream
			addr := ""
			if c.s.has(driver.Stream) {
				addr = c.s.stream.Addr()
			} else {
				t, addr = driver.Datagram, c.s.dgramAddr
			}
			var conn driver.Conn
			if conn, err = d.Dial(ctx, t, addr); err == nil {
				_ = conn.Close()
				conn, ping := c.echoConn(d)
				ping(c, conn)
				return
			}
		}
		last = err
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.Fatalf("no working Dial within %v: last error: %v", c.guard(), last)
}

func caseKill(c *C) {
	failsBadConn(c, "a kill of the driver's process", c.s.h.Lifecycle.Kill)
}

func (c *C) restarted() {
	ctx, cancel := context.WithTimeout(c.ctx, c.guard())
	defer cancel()
	c.requireNoErr(c.s.h.Lifecycle.Restarted(ctx), "wait for the host to restart the driver")
}

func caseDialAfterRestart(c *C) {
	c.restarted()
	c.redial(func() (driver.Dialer, error) { return c.s.h.Driver.Open(c.s.config) })
}

func caseDialerSurvives(c *C) {
	c.restarted()
	c.redial(func() (driver.Dialer, error) { return c.s.dialer, nil })
}

func caseModemReboot(c *C) { failsBadConn(c, "a modem reboot", c.s.h.Modem.Reboot) }

func caseDialAfterReboot(c *C) {
	c.redial(func() (driver.Dialer, error) { return c.s.dialer, nil })
}

func caseModemGarbage(c *C) {
	conn, ping := c.echoConn(c.s.dialer)
	ping(c, conn)
	c.requireNoErr(c.s.h.Modem.Garbage(64), "modem garbage")
	ping(c, conn)
	conn2, ping2 := c.echoConn(c.s.dialer)
	ping2(c, conn2)
}

func caseModemFragment(c *C) {
	c.s.h.Modem.Fragment(true)
	c.Cleanup(func() { c.s.h.Modem.Fragment(false) })
	conn, ping := c.echoConn(c.s.dialer)
	if c.s.has(driver.Stream) {
		for _, n := range []int{1, 17, 256, 1500} {
			c.echoOnce(conn, pattern(n, n))
		}
		return
	}
	ping(c, conn)
}
