package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/iotd/iotd/internal/pki"
)

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
