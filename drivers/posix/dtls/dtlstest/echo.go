// Package dtlstest is a DTLS echo peer for tests of DTLS clients: the dtls
// driver's own tests and the conformance suite's datagram cases, in process
// or through a plugin.
package dtlstest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	piondtls "github.com/pion/dtls/v2"
	"github.com/pion/transport/v2/udp"
)

// Idle ends an echo session that carried data and then fell silent this
// long. A client's close_notify is one unretransmitted datagram; when it is
// lost the session would live on, and the conformance suite's leak cases
// count the test process's goroutines, the echo's included. A session is
// not ended before it carried data: its client may still be retransmitting
// the last handshake flight through a lossy relay.
const Idle = 2 * time.Second

// Echo is a pion DTLS server on loopback that sends every datagram back to
// its sender. Each client's handshake runs on its own goroutine, so a failed
// handshake does not hold up the next client.
type Echo struct {
	// Addr is the server's "host:port".
	Addr string
	// Accepts receives server-side conns after their handshake (dropped
	// when nobody reads and 16 are waiting).
	Accepts chan net.Conn
	// Errs receives failed handshakes (dropped likewise).
	Errs chan error

	stop func()
}

// Serve starts an echo with cfg (PSK or certificates) on a free loopback
// port.
func Serve(cfg *piondtls.Config) (*Echo, error) {
	ln, err := (&udp.ListenConfig{}).Listen("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("dtlstest: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Echo{Addr: ln.Addr().String(), Accepts: make(chan net.Conn, 16), Errs: make(chan error, 16)}
	var wg sync.WaitGroup
	e.stop = func() {
		cancel()
		ln.Close()
		wg.Wait()
	}
	wg.Go(func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { e.session(ctx, raw, cfg) })
		}
	})
	return e, nil
}

// Close stops the server and every session, and waits for them.
func (e *Echo) Close() { e.stop() }

func (e *Echo) session(ctx context.Context, raw net.Conn, cfg *piondtls.Config) {
	defer raw.Close()
	c, err := piondtls.ServerWithContext(ctx, raw, cfg)
	if err != nil {
		select {
		case e.Errs <- err:
		default:
		}
		return
	}
	defer c.Close()
	select {
	case e.Accepts <- c:
	default:
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	buf := make([]byte, 8192)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
		_ = c.SetReadDeadline(time.Now().Add(Idle))
	}
}
