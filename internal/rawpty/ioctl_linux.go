//go:build linux

package rawpty

import "golang.org/x/sys/unix"

// The termios ioctls: TCGETS and TCSETS on Linux.
const (
	ioctlGetTermios = unix.TCGETS
	ioctlSetTermios = unix.TCSETS
)
