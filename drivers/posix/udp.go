package posix

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/internal/conf"
	"github.com/iotd/iotd/drivers/posix/internal/neterr"
)

// MaxUDPPayload is the largest UDP payload over IPv4 (65535 minus the IP and
// UDP headers), the default and the upper limit of UDPConfig.MaxDatagram.
const MaxUDPPayload = 65507

// UDPConfig is the configuration of the "udp" driver.
type UDPConfig struct {
	// MaxDatagram is the largest payload one Write may send; larger writes
	// fail with driver.ErrTooLarge. 0 means MaxUDPPayload. Set it to the
	// path MTU (e.g. 1472) to refuse datagrams that would be fragmented.
	MaxDatagram int `json:"max_datagram,omitempty"`
}

// Validate checks MaxDatagram's range.
func (c UDPConfig) Validate() error {
	if c.MaxDatagram < 0 || c.MaxDatagram > MaxUDPPayload {
		return conf.Invalid("udp", "max_datagram", fmt.Sprintf("%d is out of range: use 1..%d, or 0 for the maximum", c.MaxDatagram, MaxUDPPayload))
	}
	return nil
}

// NewUDP returns the "udp" driver: connected UDP sockets.
func NewUDP() driver.Driver { return udpDriver{} }

type udpDriver struct{}

func (udpDriver) Name() string                    { return "udp" }
func (udpDriver) Transports() []driver.Transport  { return []driver.Transport{driver.Datagram} }
func (udpDriver) Probe(ctx context.Context) error { return nil }

func (udpDriver) Open(config []byte) (driver.Dialer, error) {
	var c UDPConfig
	if err := conf.Decode("udp", config, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.MaxDatagram == 0 {
		c.MaxDatagram = MaxUDPPayload
	}
	return udpDialer{max: c.MaxDatagram}, nil
}

type udpDialer struct {
	max int
}

// Dial resolves address and connects a UDP socket to it. No packet is sent,
// so a closed port shows up as driver.ErrRefused from a later Read or Write.
func (d udpDialer) Dial(ctx context.Context, transport driver.Transport, address string) (driver.Conn, error) {
	if transport != driver.Datagram {
		return nil, fmt.Errorf("udp: dial %s: %w: transport %q (udp offers %q)", address, driver.ErrNotSupported, transport, driver.Datagram)
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "udp", address)
	if err != nil {
		return nil, neterr.Dial(ctx, "udp", address, err)
	}
	return &udpConn{UDPConn: c.(*net.UDPConn), max: d.max}, nil
}

// udpConn is a connected UDP socket with the datagram rules of the driver
// contract.
type udpConn struct {
	*net.UDPConn
	max int

	mu  sync.Mutex // guards buf: one Read at a time uses it
	buf []byte     // lazily allocated, MaxUDPPayload+1 long
}

// Read returns one datagram. When p is too short it fills p and returns
// driver.ErrShortBuffer; the socket is read into a buffer large enough for
// any datagram so that the truncation is detected on every platform.
func (c *udpConn) Read(p []byte) (int, error) {
	if len(p) > MaxUDPPayload {
		n, err := c.UDPConn.Read(p)
		return n, neterr.Datagram("udp: read", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		c.buf = make([]byte, MaxUDPPayload+1)
	}
	n, err := c.UDPConn.Read(c.buf)
	if err != nil {
		return 0, neterr.Datagram("udp: read", err)
	}
	copied := copy(p, c.buf[:n])
	if copied < n {
		return copied, &neterr.Error{Op: "udp: read", Kind: driver.ErrShortBuffer,
			Err: fmt.Errorf("datagram of %d bytes, buffer of %d", n, len(p))}
	}
	return copied, nil
}

// Write sends p as one datagram, or nothing when p exceeds the maximum.
func (c *udpConn) Write(p []byte) (int, error) {
	if len(p) > c.max {
		return 0, &neterr.Error{Op: "udp: write", Kind: driver.ErrTooLarge,
			Err: fmt.Errorf("%d bytes, the limit is %d", len(p), c.max)}
	}
	n, err := c.UDPConn.Write(p)
	return n, neterr.Datagram("udp: write", err)
}

// MaxPayload reports the largest datagram Write accepts.
func (c *udpConn) MaxPayload() int { return c.max }

// Unwrap returns the socket, for driver.Lookup.
func (c *udpConn) Unwrap() net.Conn { return c.UDPConn }

var _ driver.MaxPayloader = (*udpConn)(nil)
