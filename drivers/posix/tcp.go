package posix

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/internal/conf"
	"github.com/iotd/iotd/drivers/posix/internal/neterr"
)

// TCPConfig is the configuration of the "tcp" driver. The zero value (an
// empty config) selects the defaults.
type TCPConfig struct {
	// KeepAlive is the TCP keep-alive probe interval, e.g. "30s". Zero keeps
	// Go's default (15 s); a negative value turns keep-alive off.
	KeepAlive Duration `json:"keepalive,omitempty"`
}

// Validate reports a configuration that cannot work. Every value is valid
// today; the method exists so callers validate every driver alike.
func (c TCPConfig) Validate() error { return nil }

// NewTCP returns the "tcp" driver: plain TCP streams through the host's
// network stack.
func NewTCP() driver.Driver { return tcpDriver{} }

type tcpDriver struct{}

func (tcpDriver) Name() string                    { return "tcp" }
func (tcpDriver) Transports() []driver.Transport  { return []driver.Transport{driver.Stream} }
func (tcpDriver) Probe(ctx context.Context) error { return nil }

func (tcpDriver) Open(config []byte) (driver.Dialer, error) {
	var c TCPConfig
	if err := conf.Decode("tcp", config, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return tcpDialer{keepAlive: time.Duration(c.KeepAlive)}, nil
}

type tcpDialer struct {
	keepAlive time.Duration
}

func (d tcpDialer) Dial(ctx context.Context, transport driver.Transport, address string) (driver.Conn, error) {
	if transport != driver.Stream {
		return nil, fmt.Errorf("tcp: dial %s: %w: transport %q (tcp offers %q)", address, driver.ErrNotSupported, transport, driver.Stream)
	}
	return dialTCP(ctx, "tcp", d.keepAlive, address)
}

// dialTCP opens a TCP connection; name prefixes errors ("tcp", "tls").
func dialTCP(ctx context.Context, name string, keepAlive time.Duration, address string) (*streamConn, error) {
	nd := net.Dialer{KeepAlive: keepAlive}
	c, err := nd.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, neterr.Dial(ctx, name, address, err)
	}
	return &streamConn{TCPConn: c.(*net.TCPConn), name: name}, nil
}
