//go:build unix

package rawpty

import (
	"fmt"
	"os"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Open opens a pty pair: master non-blocking, slave raw. path is the
// slave's device path ("/dev/pts/N", "/dev/ttys004"), which the code under
// test opens as its serial port.
func Open() (master, slave *os.File, path string, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, "", fmt.Errorf("rawpty: %w: %w (is /dev/ptmx available?)", ErrNoPTY, err)
	}
	if err := makeRaw(int(s.Fd())); err != nil {
		m.Close()
		s.Close()
		return nil, nil, "", fmt.Errorf("rawpty: raw mode: %w", err)
	}
	// Re-wrap the master non-blocking, so the runtime poller owns it.
	fd, err := unix.Dup(int(m.Fd()))
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	m.Close()
	if err != nil {
		s.Close()
		return nil, nil, "", fmt.Errorf("rawpty: master fd: %w", err)
	}
	return os.NewFile(uintptr(fd), "ptmx"), s, s.Name(), nil
}

// makeRaw is cfmakeraw: a fresh slave is cooked and echoes.
func makeRaw(fd int) error {
	tio, err := unix.IoctlGetTermios(fd, ioctlGetTermios)
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
	return unix.IoctlSetTermios(fd, ioctlSetTermios, tio)
}
