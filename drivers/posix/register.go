package posix

import "github.com/iotd/iotd/core"

// init records the built-in drivers; it does no I/O.
func init() {
	core.MustRegister(NewTCP())
	core.MustRegister(NewTLS())
	core.MustRegister(NewUDP())
}
