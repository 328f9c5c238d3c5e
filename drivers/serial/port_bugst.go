//go:build (!linux && !windows) || iotd_serial_bugst

package serial

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	bugst "go.bug.st/serial"
)

// openPort opens name with go.bug.st/serial: termios through
// golang.org/x/sys/unix (TIOCGETA/TIOCSETA, IOSSIOSPEED for the baud rate
// on macOS), no cgo, so iotd cross-compiles for macOS. Open the callout
// device ("/dev/cu.usbmodem1421"), not the dial-in one (tty.*), which
// waits for carrier. Linux builds it with the tag iotd_serial_bugst, so
// that the port tests run it on a pty.
func openPort(name string, baud int, rt time.Duration) (Port, error) {
	p, err := bugst.Open(name, &bugst.Mode{BaudRate: baud, DataBits: 8, Parity: bugst.NoParity, StopBits: bugst.OneStopBit})
	if err == nil {
		if err = p.SetReadTimeout(rt); err != nil {
			p.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("serial: open %s at %d baud: %w (check the path, the baud rate, and that no other program has it open)", name, baud, err)
	}
	return &bugstPort{p: p, portFile: portFile{name: name}}, nil
}

// bugstPort adapts a go.bug.st/serial port to Port. That library returns
// (0, nil) when the read timeout passes and a PortClosed error both after
// Close and when the device hangs up (it reads zero bytes from a readable
// descriptor).
type bugstPort struct {
	p bugst.Port
	portFile
}

func (b *bugstPort) Read(p []byte) (int, error) {
	if err := b.errClosed("read"); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := b.p.Read(p)
	var pe *bugst.PortError
	switch {
	case n > 0:
		return n, nil
	case b.closed.Load():
		return 0, fmt.Errorf("serial: read %s: %w", b.name, os.ErrClosed)
	case err == nil:
		return 0, ErrNoData
	case errors.As(err, &pe) && pe.Code() == bugst.PortClosed,
		errors.Is(err, syscall.EIO), errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO):
		return 0, fmt.Errorf("serial: read %s: %w: the device hung up (unplugged?): %w", b.name, io.EOF, err)
	default:
		return 0, fmt.Errorf("serial: read %s: %w", b.name, err)
	}
}

func (b *bugstPort) Write(p []byte) (int, error) {
	if err := b.errClosed("write"); err != nil {
		return 0, err
	}
	for written := 0; written < len(p); {
		n, err := b.p.Write(p[written:])
		written += n
		if err != nil {
			return written, fmt.Errorf("serial: write %s: %w", b.name, err)
		}
		if n == 0 {
			return written, fmt.Errorf("serial: write %s: %w", b.name, io.ErrShortWrite)
		}
	}
	return len(p), nil
}

func (b *bugstPort) Close() error {
	return b.closeOnce(b.p.Close)
}
