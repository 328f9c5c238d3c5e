// Command example is a vendor's driver plugin for iotd: build it as
// iotd-driver-example and put it in iotd's plugin directory.
package main

import (
	"github.com/iotd/iotd/plugins/example/exampletcp"
	"github.com/iotd/iotd/plugins/sdk"
)

func main() {
	sdk.Serve(exampletcp.New())
}
