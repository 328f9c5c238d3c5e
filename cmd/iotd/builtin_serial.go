//go:build !iotd_omit_serial

package main

// The serial driver (lists serial ports for the AT modem drivers).
import _ "github.com/iotd/iotd/drivers/serial"
