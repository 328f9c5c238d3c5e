package hubsim

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// coapMaxPlainPeers bounds the plain-UDP sessions; datagrams from further
// source addresses are dropped until idle ones expire.
const coapMaxPlainPeers = 4096

// coapPlainListener serves plain CoAP over one UDP socket: a session per
// source address. With no DTLS there is no PSK identity: a device is who
// its auth path names (as in the SDK's NOTLS builds); use it on loopback.
type coapPlainListener struct {
	svc  *CoAPService
	conn *net.UDPConn

	mu    sync.Mutex
	peers map[string]*coapSession
}

func (s *CoAPService) listenPlain(addr string) (*coapPlainListener, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	return &coapPlainListener{svc: s, conn: conn, peers: map[string]*coapSession{}}, nil
}

func (l *coapPlainListener) addr() string { return l.conn.LocalAddr().String() }

func (l *coapPlainListener) close() { _ = l.conn.Close() }

// serve reads datagrams until the socket closes. Reads wake up at least
// every sweep interval to expire idle sessions.
func (l *coapPlainListener) serve(ctx context.Context) {
	sweep := min(l.svc.idle/4, 10*time.Second)
	buf := make([]byte, 64<<10)
	for {
		_ = l.conn.SetReadDeadline(time.Now().Add(sweep))
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				l.expire(time.Now().Add(-l.svc.idle))
				continue
			}
			return
		}
		c := l.session(from.String())
		if c == nil {
			continue // peer table full, or closing
		}
		c.handle(append([]byte(nil), buf[:n]...))
	}
}

// session returns the peer's session, creating it; nil when the peer
// table is full or the endpoint closed.
func (l *coapPlainListener) session(remote string) *coapSession {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.peers[remote]; ok {
		return c
	}
	if len(l.peers) >= coapMaxPlainPeers {
		return nil
	}
	ua, err := net.ResolveUDPAddr("udp", remote)
	if err != nil {
		return nil
	}
	var c *coapSession
	c = l.svc.newSession(remote, false, DeviceRef{}, func(b []byte) error {
		_, err := l.conn.WriteToUDP(b, ua)
		return err
	}, func() {
		l.mu.Lock()
		if l.peers[remote] == c {
			delete(l.peers, remote)
		}
		l.mu.Unlock()
		l.svc.removeSession(c)
	})
	if !l.svc.addSession(c) {
		return nil
	}
	l.peers[remote] = c
	return c
}

// expire closes the sessions silent since before t.
func (l *coapPlainListener) expire(t time.Time) {
	l.mu.Lock()
	var idle []*coapSession
	for _, c := range l.peers {
		if c.idleSince(t) {
			idle = append(idle, c)
		}
	}
	l.mu.Unlock()
	for _, c := range idle {
		l.svc.h.log.Debug("CoAP session expired", "remote", c.remote, "idle", l.svc.idle)
		c.close()
	}
}
