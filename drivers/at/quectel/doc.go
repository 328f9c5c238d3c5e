// Package quectel is the AT modem dialect of Quectel's cellular modules
// with the QI TCP/IP command set (BG96, BG95, EC2x, EG25): the driver
// "at.quectel". Importing it registers the dialect with [modem.Register].
package quectel

import "github.com/iotd/iotd/drivers/at/modem"

var _ modem.Dialect = (*quectel)(nil)
