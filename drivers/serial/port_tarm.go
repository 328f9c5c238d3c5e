//go:build (linux || windows) && !iotd_serial_bugst

package serial

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"time"

	tarm "github.com/tarm/serial"
)

// openPort opens name with github.com/tarm/serial: termios on Linux, the
// Win32 comm API on Windows (name "COM3"; tarm adds the \\.\ prefix that
// COM10 and above need).
func openPort(name string, baud int, rt time.Duration) (Port, error) {
	p, err := tarm.OpenPort(&tarm.Config{Name: name, Baud: baud, ReadTimeout: rt})
	if err != nil {
		return nil, fmt.Errorf("serial: open %s at %d baud: %w (%s)", name, baud, err, openHint())
	}
	return &tarmPort{p: p, timeout: rt, portFile: portFile{name: name}}, nil
}

// openHint says what to check when a port does not open.
func openHint() string {
	if runtime.GOOS == "windows" {
		return "check the COM port's name in Device Manager, the baud rate, and that no other program has it open"
	}
	return "check the path, the baud rate, and that you may open it: group dialout"
}

// tarmPort adapts *tarm.Port to Port.
type tarmPort struct {
	p       *tarm.Port
	timeout time.Duration
	portFile
}

func (t *tarmPort) Read(b []byte) (int, error) {
	if err := t.errClosed("read"); err != nil {
		return 0, err
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
	if err := t.errClosed("write"); err != nil {
		return 0, err
	}
	n, err := t.p.Write(b)
	if err != nil {
		return n, fmt.Errorf("serial: write %s: %w", t.name, err)
	}
	return n, nil
}

func (t *tarmPort) Close() error {
	return t.closeOnce(t.p.Close)
}
