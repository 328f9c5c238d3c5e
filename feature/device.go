package feature

import (
	"fmt"
	"strings"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
)

// ParseDevice parses a sub-device's "PRODUCT/DEVICE", as the gateway's
// configuration and the local API's ?device= write it.
func ParseDevice(s string) (bus.DeviceRef, error) {
	pid, dn, ok := strings.Cut(s, "/")
	r := bus.DeviceRef{ProductID: pid, DeviceName: dn}
	if !ok {
		return r, fmt.Errorf("gateway: sub-device %q: write it as PRODUCT/DEVICE", s)
	}
	return r, ValidateDevice(r)
}

// ValidateDevice checks a sub-device's names can be used in topics.
func ValidateDevice(r bus.DeviceRef) error {
	check := func(field, v string, limit int) error {
		switch {
		case v == "":
			return fmt.Errorf("gateway: sub-device %s: %s is empty", r, field)
		case len(v) > limit:
			return fmt.Errorf("gateway: sub-device %s: %s is %d characters, the limit is %d", r, field, len(v), limit)
		case strings.ContainsAny(v, "/+#$ \t\r\n\x00"):
			return fmt.Errorf("gateway: sub-device %s: %s %q contains a character a topic cannot carry", r, field, v)
		}
		return nil
	}
	if err := check("product_id", r.ProductID, core.MaxProductIDLen); err != nil {
		return err
	}
	return check("device_name", r.DeviceName, core.MaxDeviceNameLen)
}
