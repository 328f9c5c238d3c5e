// Package builtin registers iotd's built-in AT dialects — ESP-AT, Quectel,
// SIMCom SIM7600, u-blox SARA — with the modem package, which records
// their drivers (at.esp, at.quectel, at.simcom, at.ublox) and the "at"
// driver that detects among them. Import it for its side effect:
//
//	import _ "github.com/iotd/iotd/drivers/at/builtin"
//
// A program that needs one module imports only that dialect's package.
package builtin

import (
	_ "github.com/iotd/iotd/drivers/at/esp"     // at.esp
	_ "github.com/iotd/iotd/drivers/at/quectel" // at.quectel
	_ "github.com/iotd/iotd/drivers/at/simcom"  // at.simcom
	_ "github.com/iotd/iotd/drivers/at/ublox"   // at.ublox
)
