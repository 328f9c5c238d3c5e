// Package sdk is what a vendor imports to ship a transport driver as an
// out-of-tree plugin binary for iotd. The driver is written against
// core/driver exactly as an in-tree driver is; the binary's main calls
// [Serve] and does nothing else:
//
//	package main
//
//	import (
//		"github.com/iotd/iotd/plugins/sdk"
//
//		"example.com/acme/lte" // implements driver.Driver
//	)
//
//	func main() {
//		sdk.Serve(lte.New())
//	}
//
// Build it as iotd-driver-<something> and put it in iotd's plugin directory
// (or pass it to `iotd conformance --plugin`). iotd starts the binary,
// speaks the protocol of plugins/proto to it over a private socket with
// one-time mutual TLS (each connection's data on a Unix socket of its own
// in a directory only iotd's user can enter), and registers every driver it serves under the name
// the driver's Name returns; to iotd they are indistinguishable from
// built-in drivers.
//
// What the SDK takes care of:
//
//   - Capabilities are advertised, not guessed: the interfaces the driver
//     value implements (driver.Versioner, driver.MaxPayloader,
//     driver.SignalReporter, driver.Sleeper), plus what [Declare] states for
//     capabilities its Conns implement. Each connection also reports the
//     capabilities its Conn really has.
//   - Errors keep their identity: every contract sentinel an error wraps
//     (and io.EOF, os.ErrDeadlineExceeded, net.ErrClosed, context errors)
//     still matches errors.Is on the iotd side, with the same text.
//   - Logs: slog's default logger writes to stderr in the form the host
//     parses, so driver logs appear in iotd's log, tagged with the plugin.
//     A driver built before Serve runs takes [Logger], which follows
//     that default.
//     Do not log to stdout; iotd ignores what a plugin prints to stdout
//     before it is ready, but stdout is not a log channel.
//   - The plugin exits when iotd is gone, even if iotd was killed.
//
// A driver whose connection has no deadlines of its own (a modem's socket,
// a relayed stream) can implement SetDeadline with core/driver/deadline,
// which iotd's own drivers use; like core/driver it is standard library
// only.
//
// Run by hand (without iotd), the binary prints that it is a plugin and
// exits.
package sdk
