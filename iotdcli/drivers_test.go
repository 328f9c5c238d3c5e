package iotdcli

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/drivers/serial"
)

func TestDriversSuggestsUdevRule(t *testing.T) {
	var out bytes.Buffer
	printSerialPorts(&out, []serial.PortInfo{
		{Path: "/dev/ttyS0", Interface: -1}, // not USB: not listed
		{Path: "/dev/ttyUSB0", Interface: 0, VendorID: "2c7c", ProductID: "0125"},
		{Path: "/dev/ttyUSB2", Interface: 2, VendorID: "2c7c", ProductID: "0125"},
		{Path: "/dev/ttyUSB4", Interface: 0, VendorID: "1a86", ProductID: "7523"},
		{Path: "/dev/ttyACM0", Interface: -1, VendorID: "abcd", ProductID: "0001"},
	})
	assert.Equal(t, `
USB serial ports:
  /dev/ttyUSB0  2c7c:0125 if00  (a known modem's other port: no name, not its AT port)
  /dev/ttyUSB2  2c7c:0125 if02  /dev/iotd-modem-quectel-at
  /dev/ttyUSB4  1a86:7523 if00  not in iotd's udev rules
  /dev/ttyACM0  abcd:0001 if?   not in iotd's udev rules

To name a port of a modem iotd's udev rules do not know (and keep ModemManager
off it), add its line to /etc/udev/rules.d/61-iotd-local.rules:
# /dev/ttyUSB4 (1a86:7523 if00)
SUBSYSTEM=="tty", ENV{ID_VENDOR_ID}=="1a86", ENV{ID_MODEL_ID}=="7523", ENV{ID_USB_INTERFACE_NUM}=="00", SYMLINK+="iotd-modem-1a86-7523-if00", ENV{ID_MM_DEVICE_IGNORE}="1"
# /dev/ttyACM0 (abcd:0001 if?)
SUBSYSTEM=="tty", ENV{ID_VENDOR_ID}=="abcd", ENV{ID_MODEL_ID}=="0001", SYMLINK+="iotd-modem-abcd-0001", ENV{ID_MM_DEVICE_IGNORE}="1"
then: udevadm control --reload-rules && udevadm trigger --subsystem-match=tty
`, out.String())

	out.Reset()
	printSerialPorts(&out, []serial.PortInfo{{Path: "/dev/ttyS0", Interface: -1}})
	assert.Empty(t, out.String(), "no USB ports, nothing to say")
}
