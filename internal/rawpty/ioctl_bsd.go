//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package rawpty

import "golang.org/x/sys/unix"

// The termios ioctls: TIOCGETA and TIOCSETA on macOS and the BSDs.
const (
	ioctlGetTermios = unix.TIOCGETA
	ioctlSetTermios = unix.TIOCSETA
)
