//go:build unix

package daemon

import (
	"net"
	"os"
	"syscall"
)

// listenPrivate binds the local API's Unix socket at path, mode 0600: only
// the daemon's user may connect. The umask makes the socket 0600 from the
// start (a chmod after bind would leave a moment when anyone could
// connect); this runs before any other goroutine of the daemon creates
// files. The chmod after it is for a umask that another thread changed in
// the meantime.
func listenPrivate(path string) (*net.UnixListener, error) {
	old := syscall.Umask(0o177)
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ul.Close()
		return nil, err
	}
	return ul, nil
}
