package core

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/iotd/iotd/internal/pki"
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

// String describes d without its secrets.
func (d DeviceInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "DeviceInfo{auth_mode=%s productId=%s deviceName=%s", d.AuthMode, d.ProductID, d.DeviceName)
	if d.KeyDeviceInfo.DeviceSecret != "" {
		b.WriteString(" deviceSecret=<redacted>")
	}
	if d.ProductSecret != "" {
		b.WriteString(" productSecret=<redacted>")
	}
	if d.CertDeviceInfo.DevCertFile != "" {
		fmt.Fprintf(&b, " devCertFile=%s devPrivateKeyFile=%s", d.CertFile(), d.KeyFile())
	}
	if n := len(d.SubDevices()); n > 0 {
		fmt.Fprintf(&b, " subdevices=%d", n)
	}
	b.WriteString("}")
	return b.String()
}

// GoString keeps %#v from printing the secrets.
func (d DeviceInfo) GoString() string { return "core." + d.String() }

// Format prints String for every verb (%#v: GoString), so no verb reveals a
// secret.
func (d DeviceInfo) Format(f fmt.State, verb rune) { formatRedacted(f, verb, d) }

// LogValue logs d without its secrets.
func (d DeviceInfo) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("auth_mode", d.AuthMode),
		slog.String("productId", d.ProductID),
		slog.String("deviceName", d.DeviceName),
	)
}

// String hides the secret.
func (k KeyDeviceInfo) String() string {
	if k.DeviceSecret == "" {
		return "{deviceSecret=}"
	}
	return "{deviceSecret=<redacted>}"
}

// GoString hides the secret.
func (k KeyDeviceInfo) GoString() string { return "core.KeyDeviceInfo" + k.String() }

// Format prints String for every verb.
func (k KeyDeviceInfo) Format(f fmt.State, verb rune) { formatRedacted(f, verb, k) }

// LogValue hides the secret.
func (k KeyDeviceInfo) LogValue() slog.Value { return slog.StringValue(k.String()) }

type redactedStringer interface {
	fmt.Stringer
	fmt.GoStringer
}

func formatRedacted(f fmt.State, verb rune, v redactedStringer) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, v.GoString())
		return
	}
	_, _ = io.WriteString(f, v.String())
}

// --- device_info.json reading and writing ---

// jsonObject is a JSON object that remembers its key order, so that a rewrite
// keeps the user's layout and the keys iotd does not know.
type jsonObject struct {
	keys []string
	vals map[string]json.RawMessage
}

func (o *jsonObject) set(k string, v json.RawMessage) {
	if o.vals == nil {
		o.vals = make(map[string]json.RawMessage)
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// parseJSONObject splits a syntactically valid JSON value into an ordered
// object; ok is false when the value is not an object. A duplicated key keeps
// its first position and its last value, as encoding/json does.
func parseJSONObject(raw json.RawMessage) (o *jsonObject, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	o = &jsonObject{vals: make(map[string]json.RawMessage)}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		o.set(k, v)
	}
	return o, true
}

func (o *jsonObject) marshal() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(k))
		b.WriteByte(':')
		if err := json.Compact(&b, o.vals[k]); err != nil {
			b.Write(o.vals[k]) // cannot happen: values come from a valid document
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

func jsonString(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimRight(b.Bytes(), "\n")
}

func jsonKind(v json.RawMessage) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// deviceInfoDecoder reads known keys by exact name (as the C SDK does;
// encoding/json would also match "ProductId") and reports type errors with
// the key path.
type deviceInfoDecoder struct {
	source string
	err    error
}

func (dd *deviceInfoDecoder) fail(field, msg string) {
	if dd.err == nil {
		dd.err = &ConfigError{Source: dd.source, Field: field, Msg: msg}
	}
}

func fieldPath(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func (dd *deviceInfoDecoder) str(o *jsonObject, prefix, k string, dst *string) {
	v, ok := o.vals[k]
	if !ok || jsonKind(v) == "null" {
		return
	}
	if err := json.Unmarshal(v, dst); err != nil {
		dd.fail(fieldPath(prefix, k), "must be a string, found "+jsonKind(v))
	}
}

func (dd *deviceInfoDecoder) object(o *jsonObject, prefix, k string) *jsonObject {
	v, ok := o.vals[k]
	if !ok || jsonKind(v) == "null" {
		return nil
	}
	obj, ok := parseJSONObject(v)
	if !ok {
		dd.fail(fieldPath(prefix, k), "must be an object, found "+jsonKind(v))
	}
	return obj
}

func decodeDeviceInfo(data []byte, source string) (*DeviceInfo, error) {
	if len(data) > maxDeviceInfoSize {
		return nil, &ConfigError{Source: source, Msg: fmt.Sprintf("more than %d bytes; is this a device_info.json?", maxDeviceInfoSize)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM from Windows editors
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &ConfigError{Source: source, Msg: "the file is empty; it must hold a JSON object"}
	}
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &ConfigError{Source: source, Msg: syntaxMessage(data, err)}
	}
	top, ok := parseJSONObject(raw)
	if !ok {
		return nil, &ConfigError{Source: source, Msg: "must be a JSON object {...}, found " + jsonKind(raw)}
	}
	dd := &deviceInfoDecoder{source: source}
	d := &DeviceInfo{raw: top, source: source}
	dd.str(top, "", "auth_mode", &d.AuthMode)
	dd.str(top, "", "productId", &d.ProductID)
	dd.str(top, "", "productSecret", &d.ProductSecret)
	dd.str(top, "", "deviceName", &d.DeviceName)
	dd.str(top, "", "region", &d.Region)
	if k := dd.object(top, "", "key_deviceinfo"); k != nil {
		dd.str(k, "key_deviceinfo", "deviceSecret", &d.KeyDeviceInfo.DeviceSecret)
	}
	if c := dd.object(top, "", "cert_deviceinfo"); c != nil {
		dd.str(c, "cert_deviceinfo", "devCertFile", &d.CertDeviceInfo.DevCertFile)
		dd.str(c, "cert_deviceinfo", "devPrivateKeyFile", &d.CertDeviceInfo.DevPrivateKeyFile)
		dd.str(c, "cert_deviceinfo", "devCaFile", &d.CertDeviceInfo.DevCaFile)
	}
	if s := dd.object(top, "", "subDev"); s != nil {
		d.SubDev = dd.subDev(s)
	}
	if dd.err != nil {
		return nil, dd.err
	}
	return d, nil
}

func (dd *deviceInfoDecoder) subDev(o *jsonObject) *SubDev {
	s := &SubDev{}
	dd.str(o, "subDev", "sub_productId", &s.SubProductID)
	dd.str(o, "subDev", "sub_devName", &s.SubDevName)
	if v, ok := o.vals["subdev_num"]; ok && jsonKind(v) != "null" {
		if err := json.Unmarshal(v, &s.SubdevNum); err != nil {
			dd.fail("subDev.subdev_num", "must be a whole number, found "+jsonKind(v))
		}
	}
	v, ok := o.vals["subdev_list"]
	if !ok || jsonKind(v) == "null" {
		return s
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		dd.fail("subDev.subdev_list", "must be an array, found "+jsonKind(v))
		return s
	}
	for i, item := range items {
		prefix := fmt.Sprintf("subDev.subdev_list[%d]", i)
		e, ok := parseJSONObject(item)
		if !ok {
			dd.fail(prefix, "must be an object, found "+jsonKind(item))
			return s
		}
		var sd SubDevice
		dd.str(e, prefix, "sub_productId", &sd.SubProductID)
		dd.str(e, prefix, "sub_devName", &sd.SubDevName)
		s.SubdevList = append(s.SubdevList, sd)
	}
	return s
}

// syntaxMessage says, on one line, where the JSON breaks.
func syntaxMessage(data []byte, err error) string {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return "not valid JSON: " + err.Error()
	}
	// Offset counts the bytes read, the offending one included; at the end
	// of input it is the length, and the position is just past the end.
	off := min(int(se.Offset), len(data))
	truncated := se.Error() == "unexpected end of JSON input"
	if !truncated && off > 0 {
		off--
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	if truncated {
		return fmt.Sprintf("not valid JSON: truncated at line %d, column %d (byte offset %d); a closing brace or quote is missing", line, col, off)
	}
	return fmt.Sprintf("not valid JSON at line %d, column %d (byte offset %d): %s", line, col, off, se.Error())
}

// deviceInfoSchema lists the keys iotd writes, per level; any other key is
// the user's and is kept as it was.
type deviceInfoSchema struct {
	fields map[string]*deviceInfoSchema // nil value: a leaf
	elem   *deviceInfoSchema            // for arrays of objects
}

var subDeviceSchema = &deviceInfoSchema{fields: map[string]*deviceInfoSchema{"sub_productId": nil, "sub_devName": nil}}

var topSchema = &deviceInfoSchema{fields: map[string]*deviceInfoSchema{
	"auth_mode": nil, "region": nil, "productId": nil, "productSecret": nil, "deviceName": nil,
	"key_deviceinfo": {fields: map[string]*deviceInfoSchema{"deviceSecret": nil}},
	"cert_deviceinfo": {fields: map[string]*deviceInfoSchema{
		"devCertFile": nil, "devPrivateKeyFile": nil, "devCaFile": nil}},
	"subDev": {fields: map[string]*deviceInfoSchema{
		"sub_productId": nil, "sub_devName": nil, "subdev_num": nil,
		"subdev_list": {elem: subDeviceSchema}}},
}}

// document builds d's keys in the C SDK template's order.
func (d *DeviceInfo) document() *jsonObject {
	top := &jsonObject{}
	top.set("auth_mode", jsonString(d.AuthMode))
	if d.Region != "" {
		top.set("region", jsonString(d.Region))
	}
	top.set("productId", jsonString(d.ProductID))
	if d.ProductSecret != "" {
		top.set("productSecret", jsonString(d.ProductSecret))
	}
	top.set("deviceName", jsonString(d.DeviceName))
	k := &jsonObject{}
	k.set("deviceSecret", jsonString(d.KeyDeviceInfo.DeviceSecret))
	top.set("key_deviceinfo", k.marshal())
	c := &jsonObject{}
	c.set("devCertFile", jsonString(d.CertDeviceInfo.DevCertFile))
	c.set("devPrivateKeyFile", jsonString(d.CertDeviceInfo.DevPrivateKeyFile))
	if d.CertDeviceInfo.DevCaFile != "" {
		c.set("devCaFile", jsonString(d.CertDeviceInfo.DevCaFile))
	}
	top.set("cert_deviceinfo", c.marshal())
	if s := d.SubDev; s != nil {
		o := &jsonObject{}
		if s.SubProductID != "" {
			o.set("sub_productId", jsonString(s.SubProductID))
		}
		if s.SubDevName != "" {
			o.set("sub_devName", jsonString(s.SubDevName))
		}
		if s.SubdevNum != 0 {
			o.set("subdev_num", json.RawMessage(fmt.Sprint(s.SubdevNum)))
		}
		if len(s.SubdevList) > 0 {
			items := make([]json.RawMessage, len(s.SubdevList))
			for i, sd := range s.SubdevList {
				e := &jsonObject{}
				e.set("sub_productId", jsonString(sd.SubProductID))
				e.set("sub_devName", jsonString(sd.SubDevName))
				items[i] = e.marshal()
			}
			o.set("subdev_list", marshalArray(items))
		}
		top.set("subDev", o.marshal())
	}
	return top
}

func marshalArray(items []json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// mergeObject lays upd over orig: orig's key order is kept, keys the schema
// knows take upd's value (or go, when upd lacks them), unknown keys stay, and
// keys new in upd follow in upd's order.
func mergeObject(orig, upd *jsonObject, s *deviceInfoSchema) *jsonObject {
	out := &jsonObject{}
	for _, k := range orig.keys {
		child, known := s.fields[k]
		if !known {
			out.set(k, orig.vals[k])
			continue
		}
		if v, ok := upd.vals[k]; ok {
			out.set(k, mergeValue(orig.vals[k], v, child))
		}
	}
	for _, k := range upd.keys {
		if _, done := out.vals[k]; !done {
			out.set(k, upd.vals[k])
		}
	}
	return out
}

func mergeValue(orig, upd json.RawMessage, s *deviceInfoSchema) json.RawMessage {
	switch {
	case s == nil:
		return upd
	case s.fields != nil:
		o, ok1 := parseJSONObject(orig)
		u, ok2 := parseJSONObject(upd)
		if ok1 && ok2 {
			return mergeObject(o, u, s).marshal()
		}
	case s.elem != nil:
		var o, u []json.RawMessage
		if json.Unmarshal(orig, &o) == nil && json.Unmarshal(upd, &u) == nil {
			for i := range u {
				if i < len(o) {
					u[i] = mergeValue(o[i], u[i], s.elem)
				}
			}
			return marshalArray(u)
		}
	}
	return upd
}

// SaveDeviceInfo validates d and writes it to path atomically with mode 0600,
// in the C SDK template's layout with 4-space indentation. Keys of the file d
// was loaded from that iotd does not know are written back where they were.
// On any error the file at path is left as it was.
func SaveDeviceInfo(path string, d *DeviceInfo) error {
	if d == nil {
		return errors.New("core: save device info: nil DeviceInfo")
	}
	v := *d
	v.source = filepath.Base(path)
	data, doc, err := v.encode()
	if err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("core: save device info: %w", err)
	}
	d.raw = doc
	return nil
}

// encode validates d and renders the file SaveDeviceInfo writes.
func (d *DeviceInfo) encode() ([]byte, *jsonObject, error) {
	if err := d.Validate(); err != nil {
		return nil, nil, err
	}
	doc := d.document()
	if d.raw != nil {
		doc = mergeObject(d.raw, doc, topSchema)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, doc.marshal(), "", "    "); err != nil {
		return nil, nil, fmt.Errorf("core: save device info: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), doc, nil
}
