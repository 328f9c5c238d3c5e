//go:build !windows

package localapi

import (
	"errors"
	"syscall"
)

// noDaemon tells whether a dial error means no daemon serves the socket:
// no socket file, or nobody listening on it.
func noDaemon(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}
