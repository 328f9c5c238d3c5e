package conformance

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// pipe dials the driver to a fresh loopback listener and returns both ends.
func (s *suite) pipe() (c1, c2 net.Conn, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	defer ln.Close()
	type accepted struct {
		conn net.Conn
		err  error
	}
	ch := make(chan accepted, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil && s.tlsSet != nil {
			tc := tls.Server(conn, s.tlsSet.GoodConfig)
			_ = conn.SetDeadline(time.Now().Add(s.guard))
			if err = tc.Handshake(); err != nil {
				_ = conn.Close()
			} else {
				_ = conn.SetDeadline(time.Time{})
			}
			conn = tc
		}
		ch <- accepted{conn, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), s.guard)
	defer cancel()
	c1, err = s.dialer.Dial(ctx, driver.Stream, ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		if a := <-ch; a.conn != nil {
			_ = a.conn.Close()
		}
		return nil, nil, nil, err
	}
	a := <-ch
	if a.err != nil {
		_ = c1.Close()
		return nil, nil, nil, a.err
	}
	c2 = a.conn
	stop = func() { _ = errors.Join(c1.Close(), c2.Close()) }
	return c1, c2, stop, nil
}
