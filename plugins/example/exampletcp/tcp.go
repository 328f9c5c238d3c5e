// Package exampletcp is a small vendor driver, "example.tcp": TCP through
// the operating system's stack, with the driver contract's error mapping.
// It is the example of an out-of-tree driver: it imports core/driver and
// nothing else of iotd; main.go serves it with plugins/sdk.
package exampletcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// Version is the driver's version, reported through driver.Versioner.
const Version = "1.0.0"

// Config is the driver's JSON configuration; the zero value works.
type Config struct {
	// KeepAliveSeconds is the TCP keep-alive period; 0: the system's
	// default, -1: off.
	KeepAliveSeconds int `json:"keep_alive_seconds,omitempty"`
}

// New returns the driver.
func New() driver.Driver { return tcpDriver{} }

type tcpDriver struct{}

func (tcpDriver) Name() string                    { return "example.tcp" }
func (tcpDriver) Transports() []driver.Transport  { return []driver.Transport{driver.Stream} }
func (tcpDriver) Probe(ctx context.Context) error { return nil }
func (tcpDriver) Version() string                 { return Version }

// Open parses the configuration strictly: an unknown key is an error that
// names it.
func (tcpDriver) Open(config []byte) (driver.Dialer, error) {
	var c Config
	if len(bytes.TrimSpace(config)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(config))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("example.tcp: config: %w", err)
		}
	}
	if c.KeepAliveSeconds < -1 {
		return nil, fmt.Errorf("example.tcp: config: keep_alive_seconds is %d; use -1 (off), 0 (default) or a period", c.KeepAliveSeconds)
	}
	ka := time.Duration(c.KeepAliveSeconds) * time.Second
	if c.KeepAliveSeconds == -1 {
		ka = -1
	}
	return dialer{d: net.Dialer{KeepAlive: ka}}, nil
}

type dialer struct{ d net.Dialer }

func (d dialer) Dial(ctx context.Context, t driver.Transport, address string) (driver.Conn, error) {
	if t != driver.Stream {
		return nil, fmt.Errorf("example.tcp: dial %s: %w", t, driver.ErrNotSupported)
	}
	c, err := d.d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, dialError(ctx, address, err)
	}
	return &conn{TCPConn: c.(*net.TCPConn)}, nil
}

// dialError maps a dial failure onto the contract's sentinels, keeping the
// cause.
func dialError(ctx context.Context, address string, err error) error {
	var dns *net.DNSError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("example.tcp: dial %s: %w", address, ctx.Err())
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("example.tcp: dial %s: %w: %w", address, driver.ErrRefused, err)
	case errors.As(err, &dns), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("example.tcp: dial %s: %w: %w", address, driver.ErrUnreachable, err)
	}
	return fmt.Errorf("example.tcp: dial %s: %w", address, err)
}

// conn is a TCP conn whose abortive closes read as driver.ErrReset.
type conn struct {
	*net.TCPConn
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	return n, ioError(err)
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.TCPConn.Write(p)
	return n, ioError(err)
}

func ioError(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return fmt.Errorf("example.tcp: %w: %w", driver.ErrReset, err)
	}
	return err
}

// Unwrap lets driver.Lookup see the TCP conn underneath.
func (c *conn) Unwrap() net.Conn { return c.TCPConn }
