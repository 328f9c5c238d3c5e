package serial

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	tarm "github.com/tarm/serial"
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
	// Name is the device path, e.g. "/dev/ttyUSB2" or a /dev/serial/by-id link.
	Name string
	// Baud is the line rate; 0 means DefaultBaud. It must be a standard
	// rate (9600, 115200, 921600, ...).
	Baud int
	// ReadTimeout bounds each Read; 0 means DefaultReadTimeout. tarm/serial
	// has a 0.1 s resolution and a 25.5 s ceiling: values are rounded up to
	// 100 ms and clamped to 25.5 s. It can never be "no timeout".
	ReadTimeout time.Duration
}

// Open opens the port c.Name, 8N1, raw, with a read timeout.
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
	p, err := tarm.OpenPort(&tarm.Config{Name: c.Name, Baud: c.Baud, ReadTimeout: rt})
	if err != nil {
		return nil, fmt.Errorf("serial: open %s at %d baud: %w (check the path, the baud rate, and that you may open it: group dialout)", c.Name, c.Baud, err)
	}
	return &tarmPort{p: p, name: c.Name, timeout: rt}, nil
}

// tarmPort adapts *tarm.Port to Port.
type tarmPort struct {
	p       *tarm.Port
	name    string
	timeout time.Duration
	closed  atomic.Bool
}

func (t *tarmPort) Read(b []byte) (int, error) {
	if t.closed.Load() {
		return 0, fmt.Errorf("serial: read %s: %w", t.name, os.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	start := time.Now()
	n, err := t.p.Read(b)
	switch {
	case t.closed.Load() && n == 0:
		return 0, fmt.Errorf("serial: read %s: %w", t.name, os.ErrClosed)
	case n > 0:
		// tarm may pair data with io.EOF; the data is what matters and
		// the next Read reports a real failure again.
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return n, err
	case (err == nil || errors.Is(err, io.EOF)) && time.Since(start) < t.timeout/2:
		// With VMIN=0/VTIME>0 the kernel returns nothing before the
		// timeout only on hang-up: the device is gone (USB unplug, the
		// other end of a pty closed).
		return 0, fmt.Errorf("serial: read %s: %w: the device hung up (unplugged?)", t.name, io.EOF)
	case err == nil || errors.Is(err, io.EOF):
		// A read with nothing to return after VTIME is the timeout.
		return 0, ErrNoData
	case errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO):
		// What a tty reports once hung up.
		return 0, fmt.Errorf("serial: read %s: %w: the device hung up (unplugged?): %w", t.name, io.EOF, err)
	default:
		return 0, fmt.Errorf("serial: read %s: %w", t.name, err)
	}
}

func (t *tarmPort) Write(b []byte) (int, error) {
	if t.closed.Load() {
		return 0, fmt.Errorf("serial: write %s: %w", t.name, os.ErrClosed)
	}
	n, err := t.p.Write(b)
	if err != nil {
		return n, fmt.Errorf("serial: write %s: %w", t.name, err)
	}
	return n, nil
}

func (t *tarmPort) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	if err := t.p.Close(); err != nil {
		return fmt.Errorf("serial: close %s: %w", t.name, err)
	}
	return nil
}
