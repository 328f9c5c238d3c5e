// Command iotd-sim800 is the stock iotd with the SIM800 module compiled
// in: cmd/iotd's main and the drivers of its builtin_*.go shims, plus one
// import that registers at.sim800 (and lets the "at" driver detect it).
package main

import (
	"os"

	_ "github.com/iotd/iotd/drivers/at/builtin" // at.esp, at.quectel, at.simcom, at.ublox, at
	_ "github.com/iotd/iotd/drivers/posix"      // tcp, tls, udp
	_ "github.com/iotd/iotd/drivers/posix/dtls" // dtls
	_ "github.com/iotd/iotd/drivers/serial"     // serial
	_ "github.com/iotd/iotd/drivers/websocket"  // websocket
	"github.com/iotd/iotd/iotdcli"

	_ "github.com/iotd/iotd/modules/sim800" // at.sim800: the one line a vendor's module adds
)

func main() { os.Exit(iotdcli.Main()) }
