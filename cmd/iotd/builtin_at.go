//go:build !iotd_omit_at

package main

// The AT modem drivers: at.esp, at.quectel, at.simcom, at.ublox, and "at",
// which detects among them. A vendor's module is one more blank import of
// its dialect's package (README: "Porting a new module").
import _ "github.com/iotd/iotd/drivers/at/builtin"
