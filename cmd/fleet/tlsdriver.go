package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

// newRegistry returns the one driver registry every device of the fleet
// opens its connections through: "tcp" (the link over plain TCP, and the
// OTA downloads) from drivers/posix, and "tls" either posix's own, which
// reads and parses the CA file at every dial (shared=false), or sharedTLS,
// which holds one crypto/tls client configuration for the whole fleet: one
// CA pool parsed once and one session cache, so that a reconnect storm
// resumes TLS sessions instead of running full handshakes.
func newRegistry(shared bool, caPEM []byte, serverName string, devices int) (*core.Registry, error) {
	reg := core.NewRegistry()
	if err := reg.Register(posix.NewTCP()); err != nil {
		return nil, err
	}
	var tlsDrv driver.Driver = posix.NewTLSIn(reg)
	if shared {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("fleet: the hub's CA PEM holds no certificate")
		}
		tlsDrv = &sharedTLS{cfg: &tls.Config{
			RootCAs:            pool,
			ServerName:         serverName,
			MinVersion:         tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(max(devices, 64)),
		}}
	}
	if err := reg.Register(tlsDrv); err != nil {
		return nil, err
	}
	return reg, nil
}

// sharedTLS is a "tls" driver whose every connection uses one
// *tls.Config. It accepts the keys the device package hands a tls driver
// (ca_file, server_name: already in the shared configuration) and refuses
// a client certificate: the fleet runs KEY devices.
type sharedTLS struct{ cfg *tls.Config }

func (*sharedTLS) Name() string                    { return "tls" }
func (*sharedTLS) Transports() []driver.Transport  { return []driver.Transport{driver.Stream} }
func (*sharedTLS) Probe(ctx context.Context) error { return nil }

func (s *sharedTLS) Open(config []byte) (driver.Dialer, error) {
	var c struct {
		CAFile     string `json:"ca_file"`
		ServerName string `json:"server_name"`
		CertFile   string `json:"cert_file"`
		KeyFile    string `json:"key_file"`
	}
	if len(config) > 0 {
		if err := json.Unmarshal(config, &c); err != nil {
			return nil, fmt.Errorf("fleet tls: %w", err)
		}
	}
	if c.CertFile != "" || c.KeyFile != "" {
		return nil, errors.New("fleet tls: certificate devices are not supported by the shared TLS driver; use -shared-tls=false")
	}
	return s, nil
}

func (s *sharedTLS) Dial(ctx context.Context, transport driver.Transport, address string) (driver.Conn, error) {
	if transport != driver.Stream {
		return nil, fmt.Errorf("fleet tls: %w: %s", driver.ErrNotSupported, transport)
	}
	var d net.Dialer
	d.KeepAlive = 60 * time.Second
	raw, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("fleet tls: dial %s: %w: %w", address, driver.ErrRefused, err)
		}
		return nil, fmt.Errorf("fleet tls: dial %s: %w", address, err)
	}
	tc := tls.Client(raw, s.cfg)
	// The handshake runs on a goroutine of its own that ends with it: its
	// stack grows deep (certificate checks, key exchange), and the
	// caller's goroutine, which lives as long as the device, would keep
	// that stack.
	hs := make(chan error, 1)
	go func() { hs <- tc.HandshakeContext(ctx) }()
	if err := <-hs; err != nil {
		raw.Close()
		// As posix's tls driver: the dial's deadline and a connection cut
		// under load are no handshake failures (a retry may work).
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("fleet tls: handshake with %s: %w: %w", address, ctx.Err(), err)
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
			return nil, fmt.Errorf("fleet tls: handshake with %s: %w: %w", address, driver.ErrReset, err)
		}
		return nil, fmt.Errorf("fleet tls: handshake with %s: %w: %w", address, driver.ErrHandshake, err)
	}
	return tc, nil
}
