package dtls

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	piondtls "github.com/pion/dtls/v2"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/internal/conf"
	"github.com/iotd/iotd/drivers/posix/internal/neterr"
)

// Duration is a time.Duration written in configuration as "15s".
type Duration = conf.Duration

// DefaultHandshakeTimeout bounds a handshake when the configuration does
// not. It covers the mbedTLS retransmission schedule the hub's SDK peers use
// (2 s doubling to 8 s).
const DefaultHandshakeTimeout = 15 * time.Second

// MaxPayload is the largest application payload in one DTLS record that
// pion can receive: its 8192-byte datagram buffer minus the record header
// and the worst-case CBC overhead (IV, HMAC-SHA256, padding).
const MaxPayload = 8192 - 13 - 16 - 32 - 16

// Config is the configuration of the "dtls" driver. Setting PSK selects PSK
// mode; otherwise the server must present a certificate that verifies.
type Config struct {
	// PSKIdentity is the PSK identity sent to the server: for the IoT Hub the
	// client id, product id followed by device name. Required with PSK.
	PSKIdentity string `json:"psk_identity,omitempty"`
	// PSK is the pre-shared key as base64 text, e.g. the deviceSecret of
	// device_info.json; the key is the decoded bytes. It is never logged.
	PSK string `json:"psk,omitempty"`
	// CAFile is a PEM bundle of the CAs trusted to sign the server's
	// certificate (certificate mode). Empty means the system roots.
	CAFile string `json:"ca_file,omitempty"`
	// CAPEM is PEM text of CAs trusted besides CAFile (how iotd hands over
	// the hub CAs it bundles); SystemRoots adds the system roots to them.
	CAPEM       string `json:"ca_pem,omitempty"`
	SystemRoots bool   `json:"system_roots,omitempty"`
	// ServerName is sent as SNI and checked against the server certificate.
	// Empty means the host part of the address dialled.
	ServerName string `json:"server_name,omitempty"`
	// CertFile is a PEM client certificate (certificate mode); set with
	// KeyFile.
	CertFile string `json:"cert_file,omitempty"`
	// KeyFile is the PEM private key of CertFile.
	KeyFile string `json:"key_file,omitempty"`
	// InsecureSkipVerify turns server certificate verification off; every
	// connect logs a warning. For lab use only.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	// HandshakeTimeout bounds the handshake, within the Dial context;
	// default 15s.
	HandshakeTimeout Duration `json:"handshake_timeout,omitempty"`
	// MaxDatagram is the largest payload one Write may send; 0 means
	// MaxPayload. Larger writes fail with driver.ErrTooLarge.
	MaxDatagram int `json:"max_datagram,omitempty"`
}

// Validate checks the configuration without reading the files it names.
func (c Config) Validate() error {
	const p = "dtls"
	if _, err := c.key(); err != nil {
		return err
	}
	psk := c.PSK != "" || c.PSKIdentity != ""
	switch {
	case c.PSK != "" && c.PSKIdentity == "":
		return conf.Invalid(p, "psk_identity", "required with psk: set it to the client id (product id followed by device name)")
	case c.PSK == "" && c.PSKIdentity != "":
		return conf.Invalid(p, "psk", "required with psk_identity: set it to the device secret (base64)")
	case psk && (c.CAFile != "" || c.CAPEM != "" || c.CertFile != "" || c.KeyFile != "" || c.InsecureSkipVerify):
		return conf.Invalid(p, "psk", "PSK mode excludes ca_file, ca_pem, cert_file, key_file and insecure_skip_verify: configure one mode")
	case c.HandshakeTimeout < 0:
		return conf.Invalid(p, "handshake_timeout", fmt.Sprintf("%s is negative", c.HandshakeTimeout))
	case c.MaxDatagram < 0 || c.MaxDatagram > MaxPayload:
		return conf.Invalid(p, "max_datagram", fmt.Sprintf("%d is out of range: use 1..%d, or 0 for the maximum", c.MaxDatagram, MaxPayload))
	}
	return conf.CheckKeyPair(p, c.CertFile, c.KeyFile)
}

// key decodes PSK. The error never quotes the secret.
func (c Config) key() ([]byte, error) {
	if c.PSK == "" {
		return nil, nil
	}
	k, err := base64.StdEncoding.DecodeString(c.PSK)
	if err != nil {
		return nil, conf.Invalid("dtls", "psk", "not valid base64; paste the deviceSecret from device_info.json unchanged")
	}
	if len(k) == 0 {
		return nil, conf.Invalid("dtls", "psk", "decodes to an empty key")
	}
	return k, nil
}

// New returns the "dtls" driver.
func New() driver.Driver { return dtlsDriver{} }

type dtlsDriver struct{}

func (dtlsDriver) Name() string                    { return "dtls" }
func (dtlsDriver) Transports() []driver.Transport  { return []driver.Transport{driver.Datagram} }
func (dtlsDriver) Probe(ctx context.Context) error { return nil }

func (dtlsDriver) Open(config []byte) (driver.Dialer, error) {
	var c Config
	if err := conf.Decode("dtls", config, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	key, _ := c.key()
	d := &dialer{cfg: c, key: key, timeout: time.Duration(c.HandshakeTimeout), max: c.MaxDatagram}
	if d.timeout == 0 {
		d.timeout = DefaultHandshakeTimeout
	}
	if d.max == 0 {
		d.max = MaxPayload
	}
	d.cfg.PSK = "" // the decoded key is all that is kept
	return d, nil
}

type dialer struct {
	cfg     Config
	key     []byte
	timeout time.Duration
	max     int
}

// pskSuites is pion's part of the PSK offer. pion always offers the custom
// suites (the hub's CBC_SHA pair, [PSKCipherSuites]) ahead of these; the
// server picks.
var pskSuites = []piondtls.CipherSuiteID{
	piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256,
	piondtls.TLS_PSK_WITH_AES_128_CCM,
	piondtls.TLS_PSK_WITH_AES_128_CCM_8,
	piondtls.TLS_PSK_WITH_AES_128_CBC_SHA256,
}

// pionConfig builds the pion client configuration, reading certificate
// files in certificate mode.
func (d *dialer) pionConfig(host string) (*piondtls.Config, error) {
	if d.key != nil {
		key := d.key
		return &piondtls.Config{
			PSK:                func([]byte) ([]byte, error) { return key, nil },
			PSKIdentityHint:    []byte(d.cfg.PSKIdentity),
			CipherSuites:       pskSuites,
			CustomCipherSuites: PSKCipherSuites,
		}, nil
	}
	roots, err := conf.Roots("dtls", d.cfg.CAFile, d.cfg.CAPEM, d.cfg.SystemRoots)
	if err != nil {
		return nil, err
	}
	certs, err := conf.LoadKeyPair("dtls", d.cfg.CertFile, d.cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	name := d.cfg.ServerName
	if name == "" {
		name = host
	}
	return &piondtls.Config{
		RootCAs:            roots,
		Certificates:       certs,
		ServerName:         name,
		InsecureSkipVerify: d.cfg.InsecureSkipVerify,
	}, nil
}

// Dial resolves address, connects a UDP socket and runs the DTLS handshake,
// bounded by ctx and the handshake timeout.
func (d *dialer) Dial(ctx context.Context, transport driver.Transport, address string) (driver.Conn, error) {
	if transport != driver.Datagram {
		return nil, fmt.Errorf("dtls: dial %s: %w: transport %q (dtls offers %q)", address, driver.ErrNotSupported, transport, driver.Datagram)
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("dtls: dial %s: %w", address, err)
	}
	pc, err := d.pionConfig(host)
	if err != nil {
		return nil, err
	}
	var nd net.Dialer
	udp, err := nd.DialContext(ctx, "udp", address)
	if err != nil {
		return nil, neterr.Dial(ctx, "dtls", address, err)
	}
	if pc.InsecureSkipVerify {
		slogWarnInsecure(address, pc.ServerName)
	}
	hctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	counted := &countingConn{Conn: udp}
	dc, err := piondtls.ClientWithContext(hctx, counted, pc)
	if err != nil {
		udp.Close()
		return nil, d.handshakeError(ctx, hctx, address, counted.received.Load() > 0, err)
	}
	return newConn(dc, d.max), nil
}

// handshakeError classifies a failed handshake. answered tells whether any
// datagram came back: a handshake that times out after the server answered
// failed on credentials (DTLS drops records it cannot decrypt rather than
// sending an alert), one that never got an answer found no server.
func (d *dialer) handshakeError(ctx, hctx context.Context, addr string, answered bool, err error) error {
	op := "dtls: handshake with " + addr
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w: %w", op, cerr, err)
	}
	if errors.Is(err, refused) {
		return &neterr.Error{Op: op, Kind: driver.ErrRefused, Err: err}
	}
	if hctx.Err() != nil && !answered {
		return &neterr.Error{Op: op, Kind: os.ErrDeadlineExceeded,
			Err: fmt.Errorf("no handshake within %s (handshake_timeout): is a DTLS server listening there? %w", d.timeout, err)}
	}
	if hctx.Err() != nil {
		err = fmt.Errorf("the server answered but the handshake did not complete within %s: %w", d.timeout, err)
	}
	if d.key != nil {
		return fmt.Errorf("%s: %w: %w (check psk_identity and psk: the server must know this identity and key)", op, driver.ErrHandshake, err)
	}
	if hint := neterr.VerifyHint(err); hint != "" {
		return fmt.Errorf("%s: %w: %w (%s)", op, driver.ErrHandshake, err, hint)
	}
	return fmt.Errorf("%s: %w: %w", op, driver.ErrHandshake, err)
}

// countingConn counts the datagrams received during the handshake.
type countingConn struct {
	net.Conn
	received atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == nil {
		c.received.Add(1)
	}
	return n, err
}
