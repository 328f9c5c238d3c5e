package serial

import "github.com/iotd/iotd/core"

func init() {
	core.MustRegister(New())
}
