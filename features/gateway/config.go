package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/feature"
)

// DefaultTimeout bounds one operation's wait for its result.
const DefaultTimeout = 10 * time.Second

// Config configures the gateway. The zero value works: no sub-devices
// configured (they may come from device_info.json or be added at run time).
type Config struct {
	// Disabled turns the feature off.
	Disabled bool `yaml:"disabled" json:"disabled"`
	// SubDevices are the gateway's sub-devices, any number; each at most
	// once.
	SubDevices []SubDeviceConfig `yaml:"sub_devices" json:"sub_devices"`
	// AutoOnline brings the configured sub-devices online at start
	// (default true).
	AutoOnline *bool `yaml:"auto_online" json:"auto_online"`
	// AutoBind binds the configured sub-devices that have credentials at
	// start, before bringing them online (default false: they are bound
	// in the console or with `iotd gateway bind`).
	AutoBind bool `yaml:"auto_bind" json:"auto_bind"`
	// Timeout is how long one operation waits for its result (default 10s).
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

// SubDeviceConfig is one sub-device. The credentials are needed only to
// bind it: DeviceSecret for a key device, or CertFile for a certificate
// device (the bind key is the MD5 of the whole file).
type SubDeviceConfig struct {
	ProductID    string `yaml:"product_id" json:"product_id"`
	DeviceName   string `yaml:"device_name" json:"device_name"`
	DeviceSecret string `yaml:"device_secret" json:"device_secret,omitempty"`
	CertFile     string `yaml:"cert_file" json:"cert_file,omitempty"`
}

// Ref returns the sub-device's name.
func (s SubDeviceConfig) Ref() Ref { return Ref{ProductID: s.ProductID, DeviceName: s.DeviceName} }

// String names the sub-device without its credentials.
func (s SubDeviceConfig) String() string { return s.Ref().String() }

// Validate reports a sub-device entry that cannot work.
func (s SubDeviceConfig) Validate() error {
	if err := s.Ref().Validate(); err != nil {
		return err
	}
	if s.DeviceSecret != "" && s.CertFile != "" {
		return fmt.Errorf("gateway: sub-device %s: give device_secret (key device) or cert_file (certificate device), not both", s)
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
}

func (c Config) autoOnline() bool { return c.AutoOnline == nil || *c.AutoOnline }

// Validate reports a configuration that cannot work, naming the entry.
func (c Config) Validate() error {
	if c.Timeout < 0 || (c.Timeout > 0 && c.Timeout < 10*time.Millisecond) {
		return errors.New("gateway: timeout: must be at least 10ms (default 10s)")
	}
	seen := map[Ref]int{}
	for i, s := range c.SubDevices {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("gateway: sub_devices[%d]: %w", i, err)
		}
		if j, dup := seen[s.Ref()]; dup {
			return fmt.Errorf("gateway: sub_devices[%d]: %s is also sub_devices[%d]; list each sub-device once", i, s, j)
		}
		seen[s.Ref()] = i
	}
	return nil
}

// WithDeviceInfo returns c with the sub-devices of a gateway's
// device_info.json (both the C and the Python layouts, see
// core.DeviceInfo.SubDevices) appended, except those already configured:
// the configuration's entry, which may carry credentials, wins.
func (c Config) WithDeviceInfo(subs []core.SubDevice) Config {
	have := map[Ref]bool{}
	for _, s := range c.SubDevices {
		have[s.Ref()] = true
	}
	out := c
	out.SubDevices = append([]SubDeviceConfig(nil), c.SubDevices...)
	for _, s := range subs {
		r := Ref{ProductID: s.SubProductID, DeviceName: s.SubDevName}
		if have[r] {
			continue
		}
		have[r] = true
		out.SubDevices = append(out.SubDevices, SubDeviceConfig{ProductID: r.ProductID, DeviceName: r.DeviceName})
	}
	return out
}

// Ref names a sub-device.
type Ref struct {
	ProductID  string `json:"product_id"`
	DeviceName string `json:"device_name"`
}

func (r Ref) String() string { return r.ProductID + "/" + r.DeviceName }

// ParseRef parses "PRODUCT/DEVICE".
func ParseRef(s string) (Ref, error) {
	r, err := feature.ParseDevice(s)
	return Ref(r), err
}

// Validate checks the names can be used in topics.
func (r Ref) Validate() error { return feature.ValidateDevice(bus.DeviceRef(r)) }

// Enabled reports whether the feature is on (feature.Section).
func (c *Config) Enabled() bool { return !c.Disabled }

// Disable turns the feature off (feature.Section).
func (c *Config) Disable() { c.Disabled = true }
