// Package serialtest gives tests a pseudo-terminal pair standing in for a
// serial modem: the code under test opens [Pair.Path] as a real serial port
// (through tarm/serial), and the test plays the modem on [Pair.Modem].
package serialtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Pair is a pty pair. The test reads what the code under test wrote, and
// writes the modem's answers, through Modem (the pty master). The pair keeps
// its own slave fd open so that the code under test may close and reopen
// Path without the master seeing EIO.
type Pair struct {
	// Modem is the master side. It is non-blocking underneath, so
	// SetReadDeadline works and Close unblocks a pending Read.
	Modem *os.File
	// Path is the slave device path ("/dev/pts/N") to open as a serial port.
	Path string

	slave *os.File
	buf   []byte // bytes read from Modem but not yet consumed by ReadUntil
}

// New opens a pty pair in raw mode (no echo, no line discipline, every byte
// value passes intact) and closes it when the test ends.
func New(t testing.TB) *Pair {
	t.Helper()
	m, s, err := pty.Open()
	if err != nil {
		t.Skipf("serialtest: no pseudo-terminals on this host: %v", err)
	}
	if err := makeRaw(int(s.Fd())); err != nil {
		m.Close()
		s.Close()
		t.Fatalf("serialtest: raw mode: %v", err)
	}
	// Re-wrap the master non-blocking, so the runtime poller owns it.
	fd, err := unix.Dup(int(m.Fd()))
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	m.Close()
	if err != nil {
		s.Close()
		t.Fatalf("serialtest: master fd: %v", err)
	}
	p := &Pair{Modem: os.NewFile(uintptr(fd), "ptmx"), Path: s.Name(), slave: s}
	t.Cleanup(func() {
		p.Modem.Close()
		p.slave.Close()
	})
	return p
}

// makeRaw is cfmakeraw: a fresh slave is cooked and echoes.
func makeRaw(fd int) error {
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN] = 1
	tio.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, tio)
}

// ErrTimeout is returned by ReadUntil when the delimiter did not arrive in time.
var ErrTimeout = errors.New("serialtest: timeout")

// ReadUntil reads from Modem until delim has been read and returns the
// bytes up to and including it. Bytes after delim are kept for the next
// call. It gives up after timeout (a guard against a hung test, not a
// measurement).
func (p *Pair) ReadUntil(delim []byte, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	for {
		if i := bytes.Index(p.buf, delim); i >= 0 {
			out := append([]byte(nil), p.buf[:i+len(delim)]...)
			p.buf = p.buf[i+len(delim):]
			return out, nil
		}
		if err := p.Modem.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		var b [512]byte
		n, err := p.Modem.Read(b[:])
		p.buf = append(p.buf, b[:n]...)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("%w waiting for %q; have %q", ErrTimeout, delim, p.buf)
			}
			return nil, err
		}
	}
}

// ReadCommand reads one command line (up to CR) and returns it without the
// CR and without a preceding LF left over from a CRLF line end.
func (p *Pair) ReadCommand(timeout time.Duration) (string, error) {
	b, err := p.ReadUntil([]byte("\r"), timeout)
	if err != nil {
		return "", err
	}
	return string(bytes.TrimLeft(b[:len(b)-1], "\n")), nil
}

// Send writes s to the code under test.
func (p *Pair) Send(s string) error {
	_, err := p.Modem.Write([]byte(s))
	return err
}

// Hangup closes the modem side, as unplugging a USB modem would: reads of
// the port then report the end of the stream.
func (p *Pair) Hangup() error { return p.Modem.Close() }
