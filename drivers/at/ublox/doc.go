// Package ublox is the AT modem dialect of u-blox SARA-R4/R5 LTE-M/NB-IoT
// modules: the driver "at.ublox". Importing it registers the dialect with
// [modem.Register].
package ublox

import "github.com/iotd/iotd/drivers/at/modem"

var _ modem.Dialect = (*ublox)(nil)
