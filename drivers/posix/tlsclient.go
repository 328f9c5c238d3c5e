package posix

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix/internal/conf"
	"github.com/iotd/iotd/drivers/posix/internal/neterr"
)

// Client runs a TLS client handshake over conn, any stream connection (a
// TCP socket, a modem's socket), and returns the secured connection. ctx
// bounds the handshake only. serverName is used for SNI and verification
// unless c.ServerName is set; it may be an IP literal.
//
// Client takes ownership of conn: it closes conn when the handshake fails.
// A failed verification or a rejected handshake returns an error wrapping
// driver.ErrHandshake and the cause; the message says what to fix.
//
// After a Write times out, crypto/tls keeps failing later Writes; redial.
func (c TLSConfig) Client(ctx context.Context, conn net.Conn, serverName string) (driver.Conn, error) {
	if err := c.Validate(); err != nil {
		conn.Close()
		return nil, err
	}
	tc, err := c.build(serverName)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c.handshake(ctx, conn, tc, conn.RemoteAddr().String())
}

func (c TLSConfig) minVersion() (uint16, error) {
	switch c.MinVersion {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, conf.Invalid("tls", "min_version", fmt.Sprintf("%q is not supported: use \"1.2\" or \"1.3\"", c.MinVersion))
}

// build turns the configuration into a crypto/tls client config, reading
// the CA bundle and client certificate.
func (c TLSConfig) build(host string) (*tls.Config, error) {
	minV, err := c.minVersion()
	if err != nil {
		return nil, err
	}
	roots, err := conf.Roots("tls", c.CAFile, c.CAPEM, c.SystemRoots)
	if err != nil {
		return nil, err
	}
	certs, err := conf.LoadKeyPair("tls", c.CertFile, c.KeyFile)
	if err != nil {
		return nil, err
	}
	name := c.ServerName
	if name == "" {
		name = host
	}
	return &tls.Config{
		RootCAs:            roots,
		Certificates:       certs,
		ServerName:         name,
		InsecureSkipVerify: c.InsecureSkipVerify,
		MinVersion:         minV,
	}, nil
}

func (c TLSConfig) handshake(ctx context.Context, raw net.Conn, tc *tls.Config, addr string) (driver.Conn, error) {
	if tc.InsecureSkipVerify {
		slog.Warn("tls: server certificate verification is OFF (insecure_skip_verify); this connection can be impersonated",
			"addr", addr, "server_name", tc.ServerName)
	}
	tconn := tls.Client(raw, tc)
	if err := tconn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, handshakeError(ctx, "tls", addr, err, len(tc.Certificates) > 0)
	}
	return newTLSConn(tconn), nil
}

// handshakeError classifies a failed handshake: ctx ending and transport
// resets are not handshake failures (a retry may work); everything else is.
// A reset after a client certificate was offered gets a hint, since some
// servers refuse a certificate by resetting instead of with an alert.
func handshakeError(ctx context.Context, name, addr string, err error, clientCert bool) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: handshake with %s: %w: %w", name, addr, cerr, err)
	}
	if errors.Is(err, driver.ErrReset) || neterr.IsReset(err) {
		if clientCert {
			err = fmt.Errorf("%w (%s)", err, neterr.ResetWithCertHint)
		}
		return &neterr.Error{Op: name + ": handshake with " + addr, Kind: driver.ErrReset, Err: err}
	}
	if hint := neterr.VerifyHint(err); hint != "" {
		return fmt.Errorf("%s: handshake with %s: %w: %w (%s)", name, addr, driver.ErrHandshake, err, hint)
	}
	return fmt.Errorf("%s: handshake with %s: %w: %w", name, addr, driver.ErrHandshake, err)
}
