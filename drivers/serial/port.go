package serial

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Port is an open serial port. Write and Close may be called while a Read is
// pending in another goroutine; one reader and one writer may run at once.
type Port interface {
	// Read reads up to len(p) bytes. When no byte arrives within the
	// port's read timeout it returns 0 and an error for which
	// errors.Is(err, ErrNoData) holds; the port stays usable. After Close
	// it returns an error wrapping os.ErrClosed. When the device hangs up
	// (USB unplug, the far end of a pty closed) it returns an error
	// wrapping io.EOF. Any other error also means the port is unusable.
	Read(p []byte) (int, error)
	// Write writes all of p or returns an error.
	Write(p []byte) (int, error)
	// Close closes the port. A pending Read returns within one read
	// timeout. Close is safe to call more than once.
	Close() error
}

// ErrNoData is returned by [Port.Read] when the read timeout passed with no
// byte received. It implements Timeout() bool (true), as net.Error does, so
// that code decoupled from this package (the AT engine) recognises it.
var ErrNoData error = noDataError{}

type noDataError struct{}

func (noDataError) Error() string   { return "serial: no data yet (read timeout)" }
func (noDataError) Timeout() bool   { return true }
func (noDataError) Temporary() bool { return true }

// Defaults of [Config].
const (
	DefaultBaud        = 115200
	DefaultReadTimeout = 100 * time.Millisecond
)

// Config says how to open a port.
type Config struct {
	// Name is the device path, e.g. "/dev/ttyUSB2" or a /dev/serial/by-id
	// link; "/dev/cu.usbmodem1421" on macOS, "COM3" on Windows.
	Name string
	// Baud is the line rate; 0 means DefaultBaud. It must be a standard
	// rate (9600, 115200, 921600, ...).
	Baud int
	// ReadTimeout bounds each Read; 0 means DefaultReadTimeout. tarm/serial
	// has a 0.1 s resolution and a 25.5 s ceiling: values are rounded up to
	// 100 ms and clamped to 25.5 s, with either backend. It can never be
	// "no timeout".
	ReadTimeout time.Duration
}

// Open opens the port c.Name, 8N1, raw, with a read timeout. The backend
// is github.com/tarm/serial on Linux and Windows (port_tarm.go) and
// go.bug.st/serial on macOS (port_bugst.go), where tarm needs cgo.
func Open(c Config) (Port, error) {
	if c.Name == "" {
		return nil, errors.New("serial: open: no port name: set the device path, e.g. /dev/ttyUSB2")
	}
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	rt := c.ReadTimeout
	if rt <= 0 {
		rt = DefaultReadTimeout
	}
	rt = min(max(rt, 100*time.Millisecond), 25500*time.Millisecond)
	return openPort(c.Name, c.Baud, rt)
}

// portFile is what every backend's Port keeps: the port's name, for the
// errors, and whether Close was called.
type portFile struct {
	name   string
	closed atomic.Bool
}

// errClosed is the error of op ("read", "write") on a closed port; nil
// while the port is open.
func (f *portFile) errClosed(op string) error {
	if f.closed.Load() {
		return fmt.Errorf("serial: %s %s: %w", op, f.name, os.ErrClosed)
	}
	return nil
}

// closeOnce closes the port with closePort the first time only.
func (f *portFile) closeOnce(closePort func() error) error {
	if f.closed.Swap(true) {
		return nil
	}
	if err := closePort(); err != nil {
		return fmt.Errorf("serial: close %s: %w", f.name, err)
	}
	return nil
}
