//go:build linux

package serial

// List returns the serial ports of this host (/dev/ttyUSB*, /dev/ttyACM*,
// /dev/serial/by-id/*, with their USB ids and interface from sysfs),
// sorted by path. No ports is not an error.
func List() ([]PortInfo, error) { return ListIn("/") }
