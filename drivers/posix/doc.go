// Package posix provides the transport drivers that use the host's own
// network stack: "tcp" and "tls" (stream) and "udp" (datagram). The "dtls"
// driver lives in the dtls sub-package so that only programs that want it
// link pion/dtls.
//
// Importing the package registers the three drivers in core.Default; tests
// and embedders that want their own registry register [NewTCP], [NewTLS] and
// [NewUDP] into it instead.
//
// Every driver takes a JSON configuration ([TCPConfig], [TLSConfig],
// [UDPConfig]); unknown keys are rejected. Connections follow the
// core/driver Conn rules: io.EOF for an orderly close, driver.ErrReset for
// an abortive one or a truncated TLS stream, driver.ErrRefused and
// driver.ErrUnreachable from Dial, driver.ErrHandshake when TLS verification
// fails.
//
// [TLSConfig.Client] is the TLS layer on its own: it secures any stream
// connection, such as a socket inside an AT modem.
package posix

import "github.com/iotd/iotd/drivers/posix/internal/conf"

// Duration is a time.Duration written in configuration as a string such as
// "30s" or "1m30s".
type Duration = conf.Duration
