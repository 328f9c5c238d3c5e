package feature

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
)

func TestParseDevice(t *testing.T) {
	r, err := ParseDevice("PROD01/lamp-1")
	assert.NoError(t, err)
	assert.Equal(t, bus.DeviceRef{ProductID: "PROD01", DeviceName: "lamp-1"}, r)

	// Only the first slash splits: the rest is the name, which may not
	// hold one.
	tests := map[string]string{
		"lamp1":    `gateway: sub-device "lamp1": write it as PRODUCT/DEVICE`,
		"":         `gateway: sub-device "": write it as PRODUCT/DEVICE`,
		"/lamp1":   "gateway: sub-device /lamp1: product_id is empty",
		"P1/":      "gateway: sub-device P1/: device_name is empty",
		"P1/a/b":   `gateway: sub-device P1/a/b: device_name "a/b" contains a character a topic cannot carry`,
		"P+/x":     `gateway: sub-device P+/x: product_id "P+" contains a character a topic cannot carry`,
		"P1/a#":    `gateway: sub-device P1/a#: device_name "a#" contains a character a topic cannot carry`,
		"P1/a b":   `gateway: sub-device P1/a b: device_name "a b" contains a character a topic cannot carry`,
		"P1/$sys":  `gateway: sub-device P1/$sys: device_name "$sys" contains a character a topic cannot carry`,
		"P1/a\x00": `gateway: sub-device P1/a` + "\x00" + `: device_name "a\x00" contains a character a topic cannot carry`,
	}
	for in, want := range tests {
		_, err := ParseDevice(in)
		assert.EqualError(t, err, want, "%q", in)
	}
}

func TestValidateDeviceLimits(t *testing.T) {
	pid := strings.Repeat("P", core.MaxProductIDLen)
	dn := strings.Repeat("d", core.MaxDeviceNameLen)
	assert.NoError(t, ValidateDevice(bus.DeviceRef{ProductID: pid, DeviceName: dn}))

	err := ValidateDevice(bus.DeviceRef{ProductID: pid + "P", DeviceName: "d"})
	assert.ErrorContains(t, err, fmt.Sprintf("product_id is %d characters, the limit is %d", core.MaxProductIDLen+1, core.MaxProductIDLen))
	err = ValidateDevice(bus.DeviceRef{ProductID: "P", DeviceName: dn + "d"})
	assert.ErrorContains(t, err, fmt.Sprintf("device_name is %d characters, the limit is %d", core.MaxDeviceNameLen+1, core.MaxDeviceNameLen))
}
