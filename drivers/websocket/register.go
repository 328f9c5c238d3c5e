package websocket

import "github.com/iotd/iotd/core"

// init records the driver; it does no I/O.
func init() { core.MustRegister(New()) }
