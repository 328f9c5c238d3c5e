package core

import (
	"context"
	"errors"
	"net"
	"os"

	"github.com/iotd/iotd/core/driver"
)

// OpError is the error the runtime returns for a failed I/O operation on a
// link. It names the operation, the driver and the address, and wraps the
// cause, so errors.Is still finds driver sentinels underneath.
type OpError struct {
	// Op is the operation: "dial", "read", "write", "handshake", "connect".
	Op string
	// Driver is the registry name of the driver.
	Driver string
	// Addr is the address dialled.
	Addr string
	// Err is the cause.
	Err error
}

func (e *OpError) Error() string {
	s := e.Op
	if e.Driver != "" {
		s += " via " + e.Driver
	}
	if e.Addr != "" {
		s += " " + e.Addr
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *OpError) Unwrap() error { return e.Err }

// Class is a portable classification of an error, stable across drivers and
// across the plugin boundary, in the spirit of the Go CDK's gcerrors.
type Class int

const (
	// ClassUnknown is anything not classified below.
	ClassUnknown Class = iota
	// ClassUnavailable: the peer or network cannot be reached now; retrying
	// later may work (refused, unreachable, reset, connection gone).
	ClassUnavailable
	// ClassDeadlineExceeded: a deadline or context timeout passed.
	ClassDeadlineExceeded
	// ClassCanceled: the caller cancelled.
	ClassCanceled
	// ClassNotSupported: the driver or peer does not offer the operation.
	ClassNotSupported
	// ClassInvalidConfig: the configuration or identity is wrong; retrying
	// without a change cannot work.
	ClassInvalidConfig
	// ClassUnauthenticated: the peer rejected our credentials, or we rejected
	// the peer's (certificate verification, CONNACK bad user or not
	// authorised).
	ClassUnauthenticated
	// ClassPermissionDenied: authenticated, but not allowed (a topic outside
	// the device's ACL).
	ClassPermissionDenied
)

var classNames = map[Class]string{
	ClassUnknown:          "unknown",
	ClassUnavailable:      "unavailable",
	ClassDeadlineExceeded: "deadline exceeded",
	ClassCanceled:         "canceled",
	ClassNotSupported:     "not supported",
	ClassInvalidConfig:    "invalid config",
	ClassUnauthenticated:  "unauthenticated",
	ClassPermissionDenied: "permission denied",
}

func (c Class) String() string { return classNames[c] }

// Classer is implemented by errors that know their class (a CONNACK refusal,
// a configuration error). [ClassOf] asks it first.
type Classer interface {
	Class() Class
}

// ClassOf classifies err. nil is ClassUnknown.
func ClassOf(err error) Class {
	if err == nil {
		return ClassUnknown
	}
	var c Classer
	if errors.As(err, &c) {
		return c.Class()
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ClassDeadlineExceeded
	case errors.Is(err, driver.ErrNotSupported):
		return ClassNotSupported
	case errors.Is(err, driver.ErrHandshake):
		return ClassUnauthenticated
	case errors.Is(err, driver.ErrRefused), errors.Is(err, driver.ErrUnreachable),
		errors.Is(err, driver.ErrReset), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, net.ErrClosed):
		return ClassUnavailable
	case errors.As(err, &ne) && ne.Timeout():
		return ClassDeadlineExceeded
	case errors.As(err, &ne):
		return ClassUnavailable
	}
	return ClassUnknown
}

// ConfigError is an error in configuration or identity that no retry fixes.
// Its message names the file or field, the cause, and where useful the fix.
type ConfigError struct {
	// Source is the file or component ("device_info.json", "iotd.yaml").
	Source string
	// Field is the key path, e.g. "key_deviceinfo.deviceSecret"; may be "".
	Field string
	// Msg says what is wrong.
	Msg string
	// Err is an underlying cause, or nil.
	Err error
}

func (e *ConfigError) Error() string {
	s := e.Source
	if e.Field != "" {
		s += ": " + e.Field
	}
	s += ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Class reports ClassInvalidConfig.
func (e *ConfigError) Class() Class { return ClassInvalidConfig }
