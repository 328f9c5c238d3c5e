// Package rawpty opens a pseudo-terminal pair standing in for a serial
// modem: the slave in raw mode (cfmakeraw: no echo, no line discipline,
// every byte value passes intact), the master non-blocking, so that the
// runtime poller owns it (SetReadDeadline works, Close unblocks a pending
// Read). atsim serves a modem on it; serialtest gives tests one.
//
// Linux, macOS and the BSDs have ptys (pty_unix.go; the termios ioctls in
// ioctl_linux.go and ioctl_bsd.go); on Windows [Open] fails with
// an error wrapping [ErrNoPTY] (pty_windows.go).
package rawpty

import "errors"

// ErrNoPTY is wrapped by the error of [Open] when the host has no
// pseudo-terminals: Windows, or no /dev/ptmx (a container without devpts).
var ErrNoPTY = errors.New("no pseudo-terminals on this host (atsim and the serial tests need Linux or macOS)")
