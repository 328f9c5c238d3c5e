//go:build !linux

package serial

import (
	"fmt"
	"runtime"
)

// List returns an error wrapping [ErrNoDiscovery]: discovery reads Linux's
// /dev/serial/by-id and sysfs, which other systems do not have. A port
// named in the configuration still opens (port_tarm.go, port_bugst.go).
func List() ([]PortInfo, error) {
	return nil, fmt.Errorf("serial: list ports: %w, not available on %s: set the AT driver's \"port\" (%s)", ErrNoDiscovery, runtime.GOOS, examplePort())
}

// examplePort is what a port is called on this system.
func examplePort() string {
	if runtime.GOOS == "windows" {
		return `e.g. "COM3"`
	}
	return `e.g. "/dev/cu.usbmodem1421"`
}
