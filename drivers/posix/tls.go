package posix

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/internal/conf"
)

// TLSConfig is the configuration of the "tls" driver and of the TLS layer
// [TLSConfig.Client]. The zero value verifies the server against the system
// roots and the host name dialled, with TLS 1.2 or later.
type TLSConfig struct {
	// CAFile is a PEM bundle of the CAs trusted to sign the server's
	// certificate. Empty means the system roots.
	CAFile string `json:"ca_file,omitempty"`
	// ServerName is sent as SNI and checked against the server certificate.
	// Empty means the host part of the address dialled.
	ServerName string `json:"server_name,omitempty"`
	// CertFile and KeyFile are a PEM client certificate and its private key,
	// for mutual TLS (certificate-authenticated devices). Set both or
	// neither.
	CertFile string `json:"cert_file,omitempty"`
	// KeyFile is the private key of CertFile, PEM.
	KeyFile string `json:"key_file,omitempty"`
	// InsecureSkipVerify turns server certificate verification off. The
	// connection is then open to impersonation; every connect logs a
	// warning. For lab use only.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	// MinVersion is the lowest TLS version accepted: "1.2" (default) or
	// "1.3".
	MinVersion string `json:"min_version,omitempty"`
	// KeepAlive is the TCP keep-alive interval under the TLS driver, as in
	// TCPConfig. It does not apply to [TLSConfig.Client].
	KeepAlive Duration `json:"keepalive,omitempty"`
}

// Validate checks the configuration without touching the files it names.
func (c TLSConfig) Validate() error {
	if _, err := c.minVersion(); err != nil {
		return err
	}
	return conf.CheckKeyPair("tls", c.CertFile, c.KeyFile)
}

// NewTLS returns the "tls" driver: TLS over TCP through the host's network
// stack, verifying the server by default.
func NewTLS() driver.Driver { return tlsDriver{} }

type tlsDriver struct{}

func (tlsDriver) Name() string                    { return "tls" }
func (tlsDriver) Transports() []driver.Transport  { return []driver.Transport{driver.Stream} }
func (tlsDriver) Probe(ctx context.Context) error { return nil }

func (tlsDriver) Open(config []byte) (driver.Dialer, error) {
	var c TLSConfig
	if err := conf.Decode("tls", config, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return tlsDialer{cfg: c}, nil
}

type tlsDialer struct {
	cfg TLSConfig
}

// Dial connects over TCP and runs the handshake, both bounded by ctx. The
// CA bundle and client certificate are read at every dial, so a renewed
// certificate is picked up by the next connection.
func (d tlsDialer) Dial(ctx context.Context, transport driver.Transport, address string) (driver.Conn, error) {
	if transport != driver.Stream {
		return nil, fmt.Errorf("tls: dial %s: %w: transport %q (tls offers %q)", address, driver.ErrNotSupported, transport, driver.Stream)
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("tls: dial %s: %w", address, err)
	}
	// Load files before connecting so a configuration error costs no
	// connection.
	tc, err := d.cfg.build(host)
	if err != nil {
		return nil, err
	}
	raw, err := dialTCP(ctx, "tls", time.Duration(d.cfg.KeepAlive), address)
	if err != nil {
		return nil, err
	}
	return d.cfg.handshake(ctx, raw, tc, address)
}
