//go:build !iotd_omit_at

package main

// The AT modem drivers (at, at.esp, at.quectel, at.simcom, at.ublox).
import _ "github.com/iotd/iotd/drivers/at"
