// Package serial opens serial ports (USB and UART modems) for iotd.
//
// A [Port] is a minimal byte stream: Read, Write and Close. [Open] backs it
// with github.com/tarm/serial on Linux and Windows (COM ports) and with
// go.bug.st/serial on macOS, where tarm needs cgo; both without cgo. It
// always sets a read timeout, because tarm's Close blocks forever on a
// pending Read when no timeout is set. tarm reports a read timeout as
// (0, io.EOF) on Linux and (0, nil) on Windows, go.bug.st as (0, nil); a
// Port turns each into [ErrNoData], so that callers can tell "no byte
// arrived yet" from the end of the stream. `go test -tags
// iotd_serial_bugst` runs the go.bug.st backend on Linux's ptys.
//
// [List] discovers ports on Linux: /dev/ttyUSB*, /dev/ttyACM* and the
// /dev/serial/by-id links, with the USB interface number read from sysfs
// (bInterfaceNumber), which is how the AT port of a multi-port modem is
// picked (Quectel and SIMCom: interface 2). Elsewhere it returns an error
// wrapping [ErrNoDiscovery], and the port must be named in the config.
//
// Importing the package registers the "serial" driver in core.Default. It
// only reports, through Probe, whether serial ports exist: a serial port is
// a link to a modem, not a network transport, so its Dial always fails with
// driver.ErrNotSupported. The AT modem drivers (drivers/at) open connections
// through the modem on such a port.
package serial
