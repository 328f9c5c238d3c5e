// Package esp is the AT modem dialect of Espressif's ESP-AT firmware
// (ESP8266, ESP32; v2 and NonOS 1.x): the driver "at.esp". Importing it
// registers the dialect with [modem.Register].
//
// Its config (a [modem.Config]) names the Wi-Fi network the module joins:
//
//	{"port": "/dev/ttyUSB0", "ssid": "lab", "wifi_password": "..."}
package esp

import "github.com/iotd/iotd/drivers/at/modem"

var _ modem.Dialect = (*esp)(nil)
