package core

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// HTTPTransport returns an http.Transport whose connections are opened by
// dialer as stream connections, so that HTTP (OTA downloads, log upload,
// dynamic registration) goes wherever the device's network is: a POSIX
// socket or a modem's socket. TLS for https URLs is done by the transport
// itself over that stream, with tlsConfig (nil: verification against the
// system roots). The dialer must give plain byte streams (the "tcp" driver,
// a modem's TCP socket), not TLS ones.
func HTTPTransport(dialer driver.Dialer, driverName string, tlsConfig *tls.Config) *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.Dial(ctx, driver.Stream, addr)
			if err != nil {
				return nil, &OpError{Op: "dial", Driver: driverName, Addr: addr, Err: err}
			}
			return c, nil
		},
		TLSClientConfig:   tlsConfig,
		ForceAttemptHTTP2: false, // modems and small links: keep it simple
		// The SDK asks for no compression on registration and log
		// upload; Go would add "Accept-Encoding: gzip" on its own.
		DisableCompression:    true,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// HTTPTransport opens the named driver with config and returns
// [HTTPTransport] over it. It does no I/O.
func (r *Registry) HTTPTransport(driverName string, config []byte, tlsConfig *tls.Config) (*http.Transport, error) {
	d, err := r.Driver(driverName)
	if err != nil {
		return nil, err
	}
	dl, err := d.Open(config)
	if err != nil {
		return nil, err
	}
	return HTTPTransport(dl, driverName, tlsConfig), nil
}
