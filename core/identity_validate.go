package core

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Validate checks d against the hub's limits. The first problem is returned
// as a *ConfigError naming the field and the fix. It does not touch the file
// system.
func (d *DeviceInfo) Validate() error {
	switch {
	case d.AuthMode == "":
		return d.fieldErr("auth_mode", `missing: set "KEY" (device secret) or "CERT" (certificate)`)
	case isPlaceholder(d.AuthMode):
		return d.placeholderErr("auth_mode", d.AuthMode)
	case d.Mode() != AuthKey && d.Mode() != AuthCert:
		return d.fieldErr("auth_mode", fmt.Sprintf(`%s is not valid: use "KEY" or "CERT"`, quoteShort(d.AuthMode)))
	}
	if err := d.checkName("productId", d.ProductID, MaxProductIDLen, productIDChars); err != nil {
		return err
	}
	if err := d.checkName("deviceName", d.DeviceName, MaxDeviceNameLen, deviceNameChars); err != nil {
		return err
	}
	if d.IsCert() {
		for _, f := range []struct{ field, v string }{
			{"cert_deviceinfo.devCertFile", d.CertDeviceInfo.DevCertFile},
			{"cert_deviceinfo.devPrivateKeyFile", d.CertDeviceInfo.DevPrivateKeyFile},
		} {
			if err := d.checkFileName(f.field, f.v, true); err != nil {
				return err
			}
		}
		if err := d.checkFileName("cert_deviceinfo.devCaFile", d.CertDeviceInfo.DevCaFile, false); err != nil {
			return err
		}
	} else if err := d.checkSecret(); err != nil {
		return err
	}
	// The templates carry a productSecret placeholder that KEY/CERT users who
	// never use dynamic registration leave alone; only a real value is checked.
	if d.HasProductSecret() {
		if n := len(d.ProductSecret); n > MaxProductSecretLen {
			return d.fieldErr("productSecret", fmt.Sprintf("%d characters, the limit is %d", n, MaxProductSecretLen))
		}
	}
	return d.checkSubDev()
}

func (d *DeviceInfo) checkSecret() error {
	const field = "key_deviceinfo.deviceSecret"
	s := d.KeyDeviceInfo.DeviceSecret
	switch {
	case s == "":
		return d.fieldErr(field, "missing: a KEY device needs the base64 device secret shown in the console")
	case isPlaceholder(s):
		return d.placeholderErr(field, s)
	case len(s) > MaxDeviceSecretLen:
		return d.fieldErr(field, fmt.Sprintf("%d characters, the limit is %d", len(s), MaxDeviceSecretLen))
	}
	if _, err := base64.StdEncoding.Strict().DecodeString(s); err != nil {
		var ce base64.CorruptInputError
		msg := "not valid base64"
		if errors.As(err, &ce) {
			if off := int(ce); off < len(s) && !isBase64Char(s[off]) {
				msg = fmt.Sprintf("not valid base64 (illegal character at offset %d)", off)
			} else {
				msg = fmt.Sprintf("not valid base64 (truncated or badly padded at offset %d; copy the whole secret)", off)
			}
		}
		return d.fieldErr(field, msg)
	}
	return nil
}

func isBase64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '='
}

// Character sets: the console's rules ([a-zA-Z0-9:_-] for device names);
// ';' would break the MQTT username and '/', '+', '#' the topics.
const (
	productIDChars  = "letters, digits, '_' and '-'"
	deviceNameChars = "letters, digits, ':', '_' and '-'"
)

func validNameChar(c rune, set string) bool {
	switch {
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-':
		return true
	case c == ':':
		return set == deviceNameChars
	}
	return false
}

func (d *DeviceInfo) checkName(field, v string, limit int, set string) error {
	switch {
	case v == "":
		return d.fieldErr(field, "missing")
	case isPlaceholder(v):
		return d.placeholderErr(field, v)
	case len(v) > limit && utf8.RuneCountInString(v) == len(v):
		return d.fieldErr(field, fmt.Sprintf("%d characters, the limit is %d", len(v), limit))
	}
	for i, c := range v {
		if !validNameChar(c, set) {
			return d.fieldErr(field, fmt.Sprintf("character %q at offset %d is not allowed; use %s", c, i, set))
		}
	}
	return nil
}

func (d *DeviceInfo) checkFileName(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return d.fieldErr(field, "missing: a CERT device needs its certificate and private key file names")
	case v == "":
		return nil
	case isPlaceholder(v) && required:
		return d.placeholderErr(field, v)
	case isPlaceholder(v):
		return nil
	case len(v) > MaxCertFileNameLen:
		return d.fieldErr(field, fmt.Sprintf("%d characters, the limit is %d", len(v), MaxCertFileNameLen))
	case strings.IndexByte(v, 0) >= 0:
		return d.fieldErr(field, "contains a NUL byte")
	}
	return nil
}

func (d *DeviceInfo) checkSubDev() error {
	s := d.SubDev
	if s == nil {
		return nil
	}
	if s.SubdevNum < 0 {
		return d.fieldErr("subDev.subdev_num", fmt.Sprintf("%d is negative", s.SubdevNum))
	}
	check := func(prefix string, sd SubDevice) error {
		if isUnset(sd.SubProductID) && isUnset(sd.SubDevName) {
			return nil // the templates' empty or placeholder entries
		}
		if err := d.checkName(prefix+"sub_productId", sd.SubProductID, MaxProductIDLen, productIDChars); err != nil {
			return err
		}
		return d.checkName(prefix+"sub_devName", sd.SubDevName, MaxDeviceNameLen, deviceNameChars)
	}
	if err := check("subDev.", SubDevice{SubProductID: s.SubProductID, SubDevName: s.SubDevName}); err != nil {
		return err
	}
	for i, sd := range s.SubdevList {
		if err := check(fmt.Sprintf("subDev.subdev_list[%d].", i), sd); err != nil {
			return err
		}
	}
	return nil
}

// isPlaceholder recognises the C and Python SDK templates' values
// ("YOUR_IOT_PSK", "YOUR_PRODUCT_ID", "PRODUCT_ID", ...).
func isPlaceholder(v string) bool {
	return strings.HasPrefix(v, "YOUR_") || v == "PRODUCT_ID"
}

func isUnset(v string) bool { return v == "" || isPlaceholder(v) }

func (d *DeviceInfo) src() string {
	if d.source == "" {
		return DefaultDeviceInfoSource
	}
	return d.source
}

func (d *DeviceInfo) fieldErr(field, msg string) error {
	return &ConfigError{Source: d.src(), Field: field, Msg: msg}
}

func (d *DeviceInfo) placeholderErr(field, v string) error {
	return d.fieldErr(field, fmt.Sprintf("%s is a placeholder: the file still holds the SDK template's placeholders; fill in the values from the IoT Hub console", quoteShort(v)))
}

// quoteShort quotes v for an error message, cut to a readable length.
func quoteShort(v string) string {
	const limit = 40
	if len(v) > limit {
		return fmt.Sprintf("%q...", v[:limit])
	}
	return fmt.Sprintf("%q", v)
}

// ValidateTopic checks a topic name to publish to: not empty, at most
// MaxTopicLen bytes, valid UTF-8, no NUL and no wildcard.
func ValidateTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("core: topic is empty")
	case len(topic) > MaxTopicLen:
		return fmt.Errorf("core: topic is %d bytes, the limit is %d", len(topic), MaxTopicLen)
	case !utf8.ValidString(topic):
		return errors.New("core: topic is not valid UTF-8")
	case strings.IndexByte(topic, 0) >= 0:
		return errors.New("core: topic contains a NUL byte")
	case strings.ContainsAny(topic, "+#"):
		return fmt.Errorf("core: topic %q contains a wildcard ('+' or '#'); a topic to publish to must not", topic)
	}
	return nil
}
