package atsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"
)

// maxSockBuf is how much received data a socket buffers before it stops
// reading from its connection (the peer then sees TCP back pressure).
const maxSockBuf = 64 << 10

// sock is one module socket backed by a real connection.
type sock struct {
	id    int
	proto string   // "TCP" or "UDP"
	conn  net.Conn // TCP, or UDP connected to one peer
	// pconn is an unconnected UDP socket (u-blox USOST, SIMCom UDP):
	// datagrams carry their address.
	pconn  net.PacketConn
	host   string // as the host asked for it
	port   int
	remote string // ip:port dialled
	ctx    int    // PDP context (Quectel)
	mode   int    // receive mode, dialect-specific
	open   bool   // connected
	dead   bool   // closed by the module (host close, reboot): no more URCs
	// peerGone: the peer closed or the connection failed; buffered data
	// can still be read.
	peerGone bool
	closedOK bool // the dialect has reported peerGone to the host
	notified bool // a data-ready URC is outstanding (edge-triggered)
	buf      []byte
	dgrams   []dgram
	sent     int // bytes sent, for QISEND=id,0 style queries
	readTot  int
	lastErr  int
}

type dgram struct {
	addr string
	data []byte
}

// avail is the number of buffered bytes.
func (s *sock) avail() int {
	if s.proto == "UDP" {
		n := 0
		for _, d := range s.dgrams {
			n += len(d.data)
		}
		return n
	}
	return len(s.buf)
}

// take removes up to max buffered bytes: TCP bytes, or one datagram
// (truncated to max, as a module does).
func (s *sock) take(max int) ([]byte, string) {
	if s.proto == "UDP" {
		if len(s.dgrams) == 0 {
			return nil, ""
		}
		d := s.dgrams[0]
		s.dgrams = s.dgrams[1:]
		if len(d.data) > max {
			d.data = d.data[:max]
		}
		s.readTot += len(d.data)
		return d.data, d.addr
	}
	k := min(max, len(s.buf))
	out := append([]byte(nil), s.buf[:k]...)
	s.buf = s.buf[k:]
	if len(s.buf) == 0 {
		s.buf = nil
	}
	s.readTot += k
	return out, s.remote
}

// resolve turns a host name into an IP address.
func (m *Modem) resolve(host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return host, nil
	}
	if ip, found := m.cfg.Hosts[host]; found {
		return ip, nil
	}
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.DialTimeout)
	defer cancel()
	var addrs []string
	var err error
	if m.cfg.Resolve != nil {
		addrs, err = m.cfg.Resolve(ctx, host)
	} else {
		addrs, err = net.DefaultResolver.LookupHost(ctx, host)
	}
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
			return a, nil
		}
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("atsim: %s: no address", host)
	}
	return addrs[0], nil
}

// dial kinds, for the dialects' error numbers.
const (
	dialOK = iota
	dialDNS
	dialRefused
	dialTimeout
	dialOther
)

// dialLocked connects s to host:port with m.mu released meanwhile. It
// returns a dial kind and false if the module rebooted or stopped during
// the dial (s must then be forgotten).
func (m *Modem) dialLocked(s *sock, network, host string, port int) (kind int, alive bool) {
	var conn net.Conn
	var err error
	kind = dialOK
	alive = m.unlocked(func() {
		ip, rerr := m.resolve(host)
		if rerr != nil {
			kind, err = dialDNS, rerr
			return
		}
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.DialTimeout)
		defer cancel()
		conn, err = m.cfg.Dial(ctx, network, net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			kind = classifyDial(err)
		}
	})
	if !alive || s.dead {
		if conn != nil {
			conn.Close()
		}
		return kind, false
	}
	if err != nil {
		m.log.Debug("atsim: connect failed", "socket", s.id, "err", err)
		return kind, true
	}
	s.conn, s.open, s.remote = conn, true, conn.RemoteAddr().String()
	m.startPumpLocked(s)
	return dialOK, true
}

func classifyDial(err error) int {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return dialDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return dialRefused
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT):
		return dialTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return dialTimeout
	}
	return dialOther
}

// listenUDPLocked gives s an unconnected UDP socket.
func (m *Modem) listenUDPLocked(s *sock) error {
	pc, err := net.ListenPacket("udp", ":0")
	if err != nil {
		return err
	}
	s.pconn, s.open = pc, true
	m.startPumpLocked(s)
	return nil
}

// startPumpLocked starts the goroutine moving data from s's connection
// into its buffer.
func (m *Modem) startPumpLocked(s *sock) {
	m.goAsync(func() { m.pump(s) })
}

func (m *Modem) pump(s *sock) {
	buf := make([]byte, 64<<10)
	for {
		var n int
		var addr string
		var err error
		if s.pconn != nil {
			var a net.Addr
			n, a, err = s.pconn.ReadFrom(buf)
			if a != nil {
				addr = a.String()
			}
		} else {
			n, err = s.conn.Read(buf)
			addr = s.remote
		}
		m.mu.Lock()
		if s.dead || m.closed {
			m.mu.Unlock()
			return
		}
		if n > 0 {
			if s.proto == "UDP" {
				s.dgrams = append(s.dgrams, dgram{addr: addr, data: append([]byte(nil), buf[:n]...)})
			} else {
				s.buf = append(s.buf, buf[:n]...)
			}
			m.d.dataArrived(s)
		}
		if err != nil {
			if s.pconn != nil || s.proto == "UDP" {
				// a UDP error (ICMP unreachable) does not end the socket
				var ne net.Error
				if !errors.Is(err, net.ErrClosed) && !(errors.As(err, &ne) && ne.Timeout()) {
					m.mu.Unlock()
					continue
				}
			}
			s.peerGone = true
			m.log.Debug("atsim: socket closed by peer", "socket", s.id)
			m.d.peerClosed(s)
			m.mu.Unlock()
			return
		}
		for !s.dead && !m.closed && (s.avail() >= maxSockBuf || m.outLen >= maxOutQueue) {
			m.cond.Wait()
		}
		m.mu.Unlock()
	}
}

// writeSockLocked sends data on s (to addr for an unconnected UDP socket)
// with m.mu released; alive is false if the module rebooted meanwhile.
func (m *Modem) writeSockLocked(s *sock, data []byte, addr string) (err error, alive bool) {
	c, pc := s.conn, s.pconn
	alive = m.unlocked(func() {
		switch {
		case pc != nil:
			var ua *net.UDPAddr
			ua, err = net.ResolveUDPAddr("udp", addr)
			if err == nil {
				_, err = pc.WriteTo(data, ua)
			}
		case c != nil:
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Write(data)
		default:
			err = net.ErrClosed
		}
	})
	if err == nil {
		s.sent += len(data)
	}
	return err, alive
}

// closeSockLocked closes s and forgets it.
func (m *Modem) closeSockLocked(s *sock) {
	s.dead = true
	if s.conn != nil {
		s.conn.Close()
	}
	if s.pconn != nil {
		s.pconn.Close()
	}
	if m.socks[s.id] == s {
		delete(m.socks, s.id)
	}
	m.cond.Broadcast()
}

// dropSocketsLocked closes every socket (reboot, radio off, PDP down):
// their peers see the TCP connection close.
func (m *Modem) dropSocketsLocked() {
	for _, s := range m.socks {
		m.closeSockLocked(s)
	}
}
