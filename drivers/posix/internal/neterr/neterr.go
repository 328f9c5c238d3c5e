// Package neterr maps the errors of the operating system's sockets, crypto/tls
// and pion/dtls onto the sentinels of core/driver, keeping the cause visible
// and keeping net.Error behaviour, so that both errors.Is and code written for
// net.Conn (Timeout checks) work on what the POSIX drivers return.
package neterr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/iotd/iotd/core/driver"
)

// Error is an I/O error from a POSIX driver. It implements net.Error, and
// errors.Is finds both Kind (a driver sentinel or os.ErrDeadlineExceeded) and
// every error in Err's chain.
type Error struct {
	// Op says what failed, with the driver prefix: "tcp: read".
	Op string
	// Kind is the sentinel the condition maps to.
	Kind error
	// Err is the cause.
	Err error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Op + ": " + e.Kind.Error()
	}
	return e.Op + ": " + e.Kind.Error() + ": " + e.Err.Error()
}

// Unwrap returns Kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Timeout reports whether the error is a deadline expiry.
func (e *Error) Timeout() bool { return errors.Is(e.Kind, os.ErrDeadlineExceeded) }

// Temporary mirrors Timeout, as net's own errors do.
func (e *Error) Temporary() bool { return e.Timeout() }

var _ net.Error = (*Error)(nil)

// isErrno reports whether err's chain holds any of the errnos.
func isErrno(err error, errnos ...syscall.Errno) bool {
	for _, n := range errnos {
		if errors.Is(err, n) {
			return true
		}
	}
	return false
}

// IsReset reports whether err is the peer (or network) aborting a connection.
func IsReset(err error) bool {
	return isErrno(err, syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED)
}

// Dial maps an error from establishing a connection. ctx is the dial's
// context: when it has ended, its error is what the caller sees first.
func Dial(ctx context.Context, op, addr string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: dial %s: %w: %w", op, addr, cerr, err)
	}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return &Error{Op: op + ": dial " + addr, Kind: driver.ErrUnreachable, Err: err}
	case isErrno(err, syscall.ECONNREFUSED):
		return &Error{Op: op + ": dial " + addr, Kind: driver.ErrRefused, Err: err}
	case isErrno(err, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.ENETDOWN, syscall.ETIMEDOUT):
		return &Error{Op: op + ": dial " + addr, Kind: driver.ErrUnreachable, Err: err}
	case IsReset(err):
		return &Error{Op: op + ": dial " + addr, Kind: driver.ErrReset, Err: err}
	}
	return fmt.Errorf("%s: dial %s: %w", op, addr, err)
}

// Stream maps an error from Read or Write on a stream connection. io.EOF,
// deadline and closed errors pass through unchanged, because callers compare
// io.EOF with == and net's own errors already satisfy the contract; resets
// gain driver.ErrReset.
func Stream(op string, err error) error {
	switch {
	case err == nil, err == io.EOF:
		return err
	case errors.Is(err, driver.ErrReset), errors.Is(err, net.ErrClosed):
		return err
	case IsReset(err), errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Op: op, Kind: driver.ErrReset, Err: err}
	}
	return err
}

// Datagram maps an error from Read or Write on a datagram connection: an ICMP
// port unreachable reported on a connected socket becomes driver.ErrRefused,
// an oversized datagram driver.ErrTooLarge.
func Datagram(op string, err error) error {
	switch {
	case err == nil, errors.Is(err, net.ErrClosed):
		return err
	case isErrno(err, syscall.ECONNREFUSED):
		return &Error{Op: op, Kind: driver.ErrRefused, Err: err}
	case isErrno(err, syscall.EMSGSIZE):
		return &Error{Op: op, Kind: driver.ErrTooLarge, Err: err}
	case isErrno(err, syscall.EHOSTUNREACH, syscall.ENETUNREACH):
		return &Error{Op: op, Kind: driver.ErrUnreachable, Err: err}
	}
	return err
}

// Timeout returns a deadline error for a layer (pion/dtls) whose own timeout
// error does not match os.ErrDeadlineExceeded.
func Timeout(op string, cause error) error {
	return &Error{Op: op, Kind: os.ErrDeadlineExceeded, Err: cause}
}

// Closed returns the error for a call on a connection closed locally.
func Closed(op string, addr net.Addr) error {
	return &net.OpError{Op: op, Net: addr.Network(), Addr: addr, Err: net.ErrClosed}
}
