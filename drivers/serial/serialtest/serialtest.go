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

	"github.com/iotd/iotd/internal/rawpty"
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
	m, s, path, err := rawpty.Open()
	if errors.Is(err, rawpty.ErrNoPTY) {
		t.Skipf("serialtest: %v", err)
	}
	if err != nil {
		t.Fatalf("serialtest: %v", err)
	}
	p := &Pair{Modem: m, Path: path, slave: s}
	t.Cleanup(func() {
		p.Modem.Close()
		p.slave.Close()
	})
	return p
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
