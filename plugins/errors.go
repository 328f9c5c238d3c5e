package plugins

import (
	"fmt"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins/internal/wire"
)

// ErrProtocolVersion is wrapped by the error of Load (and logged by a
// restart) when the plugin speaks another version of the plugin protocol
// than this host: a plugin built with an older plugins/sdk. The error's
// text names the plugin's version and the host's.
var ErrProtocolVersion = fmt.Errorf("the plugin speaks another version of the driver plugin protocol than this iotd, which speaks version %d only; rebuild the plugin with the current plugins/sdk", wire.Protocol)

// GoneError is the error of every call on a connection, and of a Dial,
// whose plugin process is gone (it crashed, was killed or was closed). It
// wraps driver.ErrBadConn, so the framework discards the connection and
// dials again, which reaches the restarted plugin.
type GoneError struct {
	// Plugin is the plugin's name (its file name).
	Plugin string
	// Status is how the process ended: "exit status 2", "signal: killed",
	// or what is known when it has not been reaped yet.
	Status string
	// Err is a further cause (the context of a Dial that waited for a
	// restart, say), or nil.
	Err error
}

func (e *GoneError) Error() string {
	s := fmt.Sprintf("plugins: plugin %s is gone (%s): connection no longer usable; dial again once it has restarted", e.Plugin, e.Status)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns driver.ErrBadConn and Err.
func (e *GoneError) Unwrap() []error {
	if e.Err == nil {
		return []error{driver.ErrBadConn}
	}
	return []error{driver.ErrBadConn, e.Err}
}
