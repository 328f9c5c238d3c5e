//go:build windows

package daemon

import "net"

// listenPrivate binds the local API's AF_UNIX socket at path (Windows 10
// 1803 and later). Windows has no umask and no socket mode bits: a client
// needs write access to the socket file, which inherits the ACL of its
// directory. The default path is in the user's own profile
// (%LOCALAPPDATA%\iotd: the user, SYSTEM and Administrators), so only
// they may connect; a socket path set in the configuration is as private
// as the directory it is in (README: Other operating systems).
func listenPrivate(path string) (*net.UnixListener, error) {
	return net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
}
