//go:build windows

package localapi

import (
	"errors"
	"io/fs"
	"syscall"

	"golang.org/x/sys/windows"
)

// noDaemon tells whether a dial error means no daemon serves the socket:
// no socket file, or nobody listening on it. Winsock reports an AF_UNIX
// connect to a path with no listener as WSAECONNREFUSED, which
// syscall.ECONNREFUSED (an errno Go invents on Windows) does not match.
func noDaemon(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, windows.WSAECONNREFUSED) ||
		errors.Is(err, syscall.ECONNREFUSED)
}
