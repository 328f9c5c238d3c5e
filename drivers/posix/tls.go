package posix

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/iotd/iotd/core"
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
	// CAPEM is PEM text of CAs trusted besides (or instead of) CAFile: how
	// iotd hands the driver the hub CAs it bundles.
	CAPEM string `json:"ca_pem,omitempty"`
	// SystemRoots trusts the system roots as well as CAFile and CAPEM.
	// Without CAFile and CAPEM the system roots are the default anyway.
	SystemRoots bool `json:"system_roots,omitempty"`
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
	// TCPConfig. It does not apply to [TLSConfig.Client] nor with Over.
	KeepAlive Duration `json:"keepalive,omitempty"`
	// Over names another registered stream driver that carries the TLS
	// session instead of the host's TCP stack: a modem's sockets
	// ("at.quectel") or a plugin's. Empty means POSIX TCP. Only the "tls"
	// driver reads it.
	Over string `json:"over,omitempty"`
	// OverConfig is the JSON configuration of the Over driver.
	OverConfig json.RawMessage `json:"over_config,omitempty"`
}

// Validate checks the configuration without touching the files it names.
func (c TLSConfig) Validate() error {
	if _, err := c.minVersion(); err != nil {
		return err
	}
	return conf.CheckKeyPair("tls", c.CertFile, c.KeyFile)
}

// NewTLS returns the "tls" driver: TLS over TCP through the host's network
// stack, verifying the server by default. With the "over" key it runs TLS
// over another driver of [core.Default] instead.
func NewTLS() driver.Driver { return tlsDriver{} }

// NewTLSIn is [NewTLS] resolving "over" in reg rather than core.Default.
func NewTLSIn(reg *core.Registry) driver.Driver { return tlsDriver{reg: reg} }

type tlsDriver struct {
	reg *core.Registry // where "over" is looked up; nil: core.Default
}

func (tlsDriver) Name() string                    { return "tls" }
func (tlsDriver) Transports() []driver.Transport  { return []driver.Transport{driver.Stream} }
func (tlsDriver) Probe(ctx context.Context) error { return nil }

func (t tlsDriver) Open(config []byte) (driver.Dialer, error) {
	var c TLSConfig
	if err := conf.Decode("tls", config, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Over == "" {
		if len(c.OverConfig) > 0 {
			return nil, conf.Invalid("tls", "over_config", "set over too (the driver it configures)")
		}
		return tlsDialer{cfg: c}, nil
	}
	if c.Over == "tls" {
		return nil, conf.Invalid("tls", "over", `"tls" cannot carry itself: name a plain stream driver (tcp, at.quectel, ...)`)
	}
	reg := t.reg
	if reg == nil {
		reg = core.Default
	}
	inner, err := reg.Driver(c.Over)
	if err != nil {
		return nil, conf.Invalid("tls", "over", err.Error())
	}
	if !slices.Contains(inner.Transports(), driver.Stream) {
		return nil, conf.Invalid("tls", "over", fmt.Sprintf("driver %q offers no stream transport", c.Over))
	}
	under, err := inner.Open(c.OverConfig)
	if err != nil {
		return nil, fmt.Errorf("tls: over %s: %w", c.Over, err)
	}
	return tlsDialer{cfg: c, under: under}, nil
}

type tlsDialer struct {
	cfg   TLSConfig
	under driver.Dialer // nil: POSIX TCP
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
	if d.under != nil {
		raw, err := d.under.Dial(ctx, driver.Stream, address)
		if err != nil {
			return nil, err
		}
		return d.cfg.handshake(ctx, raw, tc, address)
	}
	raw, err := dialTCP(ctx, "tls", time.Duration(d.cfg.KeepAlive), address)
	if err != nil {
		return nil, err
	}
	return d.cfg.handshake(ctx, raw, tc, address)
}
