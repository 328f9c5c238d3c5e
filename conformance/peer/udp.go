package peer

import (
	"errors"
	"net"
	"sync"
)

// UDPEcho is a loopback UDP server that sends every datagram back to its
// sender unchanged.
type UDPEcho struct {
	pc   net.PacketConn
	done sync.WaitGroup
}

// NewUDPEcho starts a UDP echo on 127.0.0.1 with an ephemeral port.
func NewUDPEcho() (*UDPEcho, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &UDPEcho{pc: pc}
	u.done.Add(1)
	go func() {
		defer u.done.Done()
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // e.g. an ICMP error reported for an earlier send
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	return u, nil
}

// Addr is the echo's "127.0.0.1:port" address.
func (u *UDPEcho) Addr() string { return u.pc.LocalAddr().String() }

// Close stops the echo and waits for its goroutine.
func (u *UDPEcho) Close() error {
	err := u.pc.Close()
	u.done.Wait()
	return err
}
