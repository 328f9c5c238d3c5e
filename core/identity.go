package core

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Authentication modes of a device, as written in device_info.json's
// auth_mode.
const (
	// AuthKey devices hold a base64 device secret (TLS-PSK or a signed
	// MQTT password).
	AuthKey = "KEY"
	// AuthCert devices hold an X.509 certificate and key (mutual TLS).
	AuthCert = "CERT"
)

// The IoT Hub's limits (C SDK qcloud_iot_export.h, PROTOCOL.md §1.4).
const (
	MaxProductIDLen     = 10
	MaxDeviceNameLen    = 48
	MaxDeviceSecretLen  = 64
	MaxProductSecretLen = 32
	MaxCertFileNameLen  = 128
	MaxFilePathLen      = 256
	// MaxTopicLen is the longest topic the hub and the C SDK handle.
	MaxTopicLen = 128
	// maxDeviceInfoSize bounds what LoadDeviceInfo reads; the C SDK stops at
	// 1 KiB, we allow room for unknown keys but not an arbitrary file.
	maxDeviceInfoSize = 64 << 10
)

// DefaultDeviceInfoSource is the Source of errors about a device identity
// that did not come from a named file.
const DefaultDeviceInfoSource = "device_info.json"

// DeviceInfo is a device identity in the layout of the C SDK's
// device_info.json (and the Python SDK's superset of it). Keys iotd does not
// know are kept and written back by [SaveDeviceInfo].
type DeviceInfo struct {
	AuthMode       string         `json:"auth_mode"`
	ProductID      string         `json:"productId"`
	ProductSecret  string         `json:"productSecret,omitempty"`
	DeviceName     string         `json:"deviceName"`
	Region         string         `json:"region,omitempty"`
	KeyDeviceInfo  KeyDeviceInfo  `json:"key_deviceinfo"`
	CertDeviceInfo CertDeviceInfo `json:"cert_deviceinfo"`
	SubDev         *SubDev        `json:"subDev,omitempty"`

	raw    *jsonObject // the document as read, for preserving unknown keys
	source string      // error Source; "" means DefaultDeviceInfoSource
	// resolved file paths, set by LoadDeviceInfo / ResolveFiles
	certPath, keyPath, caPath string
}

// KeyDeviceInfo holds the secret of a KEY device.
type KeyDeviceInfo struct {
	// DeviceSecret is the base64 text shown in the console (≤ 64 chars).
	DeviceSecret string `json:"deviceSecret"`
}

// CertDeviceInfo names the certificate files of a CERT device.
type CertDeviceInfo struct {
	DevCertFile       string `json:"devCertFile"`
	DevPrivateKeyFile string `json:"devPrivateKeyFile"`
	DevCaFile         string `json:"devCaFile,omitempty"`
}

// SubDev lists a gateway's sub-devices: the C SDK's single
// sub_productId/sub_devName pair, or the Python SDK's subdev_list.
type SubDev struct {
	SubProductID string      `json:"sub_productId,omitempty"`
	SubDevName   string      `json:"sub_devName,omitempty"`
	SubdevNum    int         `json:"subdev_num,omitempty"`
	SubdevList   []SubDevice `json:"subdev_list,omitempty"`
}

// SubDevice is one sub-device of a gateway.
type SubDevice struct {
	SubProductID string `json:"sub_productId"`
	SubDevName   string `json:"sub_devName"`
}

// LoadDeviceInfo reads, parses and validates a device_info.json. Errors are
// *ConfigError with Source = the file's base name. For CERT devices the
// certificate, key and (if named) CA files are resolved: an absolute path is
// used as is; a relative one is looked up next to the file, then in a
// "certs" directory next to it (the C SDK's convention); a file found in
// neither place is an error.
func LoadDeviceInfo(path string) (*DeviceInfo, error) {
	source := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, &ConfigError{Source: source, Msg: "cannot read the device identity", Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDeviceInfoSize+1))
	if err != nil {
		return nil, &ConfigError{Source: source, Msg: "cannot read the device identity", Err: err}
	}
	d, err := ParseDeviceInfo(data, source)
	if err != nil {
		return nil, err
	}
	if err := d.ResolveFiles(filepath.Dir(path)); err != nil {
		return nil, err
	}
	return d, nil
}

// ParseDeviceInfo parses and validates a device_info.json document. source
// names it in errors ("" means "device_info.json"). Relative certificate
// paths are left as written (see [DeviceInfo.ResolveFiles]).
func ParseDeviceInfo(data []byte, source string) (*DeviceInfo, error) {
	if source == "" {
		source = DefaultDeviceInfoSource
	}
	d, err := decodeDeviceInfo(data, source)
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// Mode returns the auth mode in canonical case (AuthKey or AuthCert), or the
// text as written when it is neither.
func (d *DeviceInfo) Mode() string {
	switch {
	case strings.EqualFold(d.AuthMode, AuthKey):
		return AuthKey
	case strings.EqualFold(d.AuthMode, AuthCert):
		return AuthCert
	}
	return d.AuthMode
}

// IsCert reports whether d authenticates with a certificate.
func (d *DeviceInfo) IsCert() bool { return d.Mode() == AuthCert }

// ClientID is the MQTT client id: product id and device name, no separator.
func (d *DeviceInfo) ClientID() string { return d.ProductID + d.DeviceName }

// SecretKey returns the base64-decoded device secret of a KEY device: the
// TLS-PSK key and the HMAC key of the MQTT password.
func (d *DeviceInfo) SecretKey() ([]byte, error) {
	if d.IsCert() {
		return nil, d.fieldErr("key_deviceinfo.deviceSecret", "a CERT device has no device secret; it authenticates with its certificate")
	}
	if err := d.checkSecret(); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(d.KeyDeviceInfo.DeviceSecret)
}

// HasProductSecret reports whether a usable product secret (for dynamic
// registration) is set; the C SDK template's placeholder does not count.
func (d *DeviceInfo) HasProductSecret() bool {
	return d.ProductSecret != "" && !isPlaceholder(d.ProductSecret)
}

// CertFile is the device certificate's path: resolved by LoadDeviceInfo or
// ResolveFiles, else as written.
func (d *DeviceInfo) CertFile() string { return resolvedOr(d.certPath, d.CertDeviceInfo.DevCertFile) }

// KeyFile is the device private key's path, resolved like CertFile.
func (d *DeviceInfo) KeyFile() string {
	return resolvedOr(d.keyPath, d.CertDeviceInfo.DevPrivateKeyFile)
}

// CAFile is the optional CA file's path (Python SDK's devCaFile), resolved
// like CertFile; "" when none is named.
func (d *DeviceInfo) CAFile() string {
	if isPlaceholder(d.CertDeviceInfo.DevCaFile) {
		return ""
	}
	return resolvedOr(d.caPath, d.CertDeviceInfo.DevCaFile)
}

func resolvedOr(resolved, written string) string {
	if resolved != "" {
		return resolved
	}
	return written
}

// SubDevices returns the gateway's sub-devices from either layout, skipping
// empty entries and the templates' placeholders.
func (d *DeviceInfo) SubDevices() []SubDevice {
	if d.SubDev == nil {
		return nil
	}
	var out []SubDevice
	add := func(s SubDevice) {
		if isUnset(s.SubProductID) && isUnset(s.SubDevName) {
			return
		}
		out = append(out, s)
	}
	add(SubDevice{SubProductID: d.SubDev.SubProductID, SubDevName: d.SubDev.SubDevName})
	for _, s := range d.SubDev.SubdevList {
		add(s)
	}
	return out
}

// ResolveFiles resolves the certificate, key and CA file names of a CERT
// device against dir (see [LoadDeviceInfo]) and checks that the files
// exist. It does nothing for KEY devices.
func (d *DeviceInfo) ResolveFiles(dir string) error {
	if !d.IsCert() {
		return nil
	}
	var err error
	if d.certPath, err = d.resolve(dir, "cert_deviceinfo.devCertFile", d.CertDeviceInfo.DevCertFile); err != nil {
		return err
	}
	if d.keyPath, err = d.resolve(dir, "cert_deviceinfo.devPrivateKeyFile", d.CertDeviceInfo.DevPrivateKeyFile); err != nil {
		return err
	}
	d.caPath = ""
	if ca := d.CertDeviceInfo.DevCaFile; !isUnset(ca) {
		if d.caPath, err = d.resolve(dir, "cert_deviceinfo.devCaFile", ca); err != nil {
			return err
		}
	}
	return nil
}

func (d *DeviceInfo) resolve(dir, field, name string) (string, error) {
	candidates := []string{name}
	if !filepath.IsAbs(name) {
		candidates = []string{filepath.Join(dir, name), filepath.Join(dir, "certs", name)}
	}
	for _, p := range candidates {
		if n := len(p); n > MaxFilePathLen {
			return "", d.fieldErr(field, fmt.Sprintf("path %s is %d characters, the limit is %d", p, n, MaxFilePathLen))
		}
		st, err := os.Stat(p)
		if err == nil && st.Mode().IsRegular() {
			return p, nil
		}
		if err == nil {
			return "", d.fieldErr(field, fmt.Sprintf("%s is not a regular file", p))
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", &ConfigError{Source: d.src(), Field: field, Msg: "cannot use " + p, Err: err}
		}
	}
	return "", d.fieldErr(field, fmt.Sprintf("file %q not found (looked for %s); put it there or write its absolute path",
		name, strings.Join(candidates, " and ")))
}
