// Command iotd-driver-sim800 serves the at.sim800 driver as an iotd
// plugin: put it in iotd's plugin directory (plugins: {dir: ...}) and name
// at.sim800 in the config as if it were built in, or certify it with
// `iotd conformance --plugin iotd-driver-sim800 --driver at.sim800`.
package main

import (
	"github.com/iotd/iotd/drivers/at/modem"
	"github.com/iotd/iotd/modules/sim800"
	"github.com/iotd/iotd/plugins/sdk"
)

func main() {
	d, err := modem.NewDriver(sim800.Name)
	if err != nil {
		panic(err) // the import registers the dialect: cannot happen
	}
	d.Logger = sdk.Logger() // the modem's logs reach iotd's log
	// The conns report the modem's signal (AT+CSQ) and their payload
	// limit themselves; Signal is declared so that iotd asks for it.
	sdk.Serve(sdk.Declare(d, sdk.Capabilities{Signal: true}))
}
