// Package simcom is the AT modem dialect of SIMCom's SIM7500/SIM7600 LTE
// modules (the NETOPEN/CIPOPEN command set): the driver "at.simcom".
// Importing it registers the dialect with [modem.Register]. SIMCom's 2G
// SIM800 speaks another command set; its dialect lives in its own module
// (modules/sim800).
package simcom

import "github.com/iotd/iotd/drivers/at/modem"

var _ modem.Dialect = (*simcom)(nil)
