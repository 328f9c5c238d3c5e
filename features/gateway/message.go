package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Operation types, as on the wire.
const (
	OpOnline   = "online"
	OpOffline  = "offline"
	OpBind     = "bind"
	OpUnbind   = "unbind"
	OpDescribe = "describe_sub_devices"
)

// MaxResultBytes bounds a result message; longer ones are dropped.
const MaxResultBytes = 64 << 10

// Reasons a result message is dropped; test with errors.Is.
var (
	ErrMalformed   = errors.New("gateway: malformed result")
	ErrUnknownType = errors.New("gateway: result of an unknown type")
	ErrTooLarge    = errors.New("gateway: result too large")
)

// Signature is the bind signature of PROTOCOL.md §2.5: the raw
// HMAC-SHA1 digest of "{pid}{dn};{random};{timestamp}" in base64. key is
// the sub-device's secret text as written (not base64-decoded), or
// [CertKey] of its certificate file.
func Signature(key string, sub Ref, random, timestamp int64) string {
	mac := hmac.New(sha1.New, []byte(key))
	fmt.Fprintf(mac, "%s%s;%d;%d", sub.ProductID, sub.DeviceName, random, timestamp)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// CertKey is the bind key of a certificate sub-device: the lowercase hex
// MD5 of the whole certificate file.
func CertKey(certFile []byte) string {
	sum := md5.Sum(certFile)
	return hex.EncodeToString(sum[:])
}

// bindEntry is a device entry of a bind request.
type bindEntry struct {
	ProductID  string `json:"product_id"`
	DeviceName string `json:"device_name"`
	Signature  string `json:"signature"`
	Random     int64  `json:"random"`
	Timestamp  int64  `json:"timestamp"`
	SignMethod string `json:"signmethod"`
	AuthType   string `json:"authtype"`
}

// encodeRequest builds a request; entries are Refs or bindEntries.
func encodeRequest(typ string, entries []any) ([]byte, error) {
	req := map[string]any{"type": typ}
	if typ != OpDescribe {
		req["payload"] = map[string]any{"devices": entries}
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("gateway: encode %s request: %w", typ, err)
	}
	return b, nil
}

// inbound is a parsed result message.
type inbound struct {
	Type    string
	Devices []deviceResult
	// Bad says why entries were skipped (missing names or result).
	Bad []error
}

// deviceResult is one device of a result; Code is meaningless for
// describe_sub_devices.
type deviceResult struct {
	Ref
	Code int
}

// code accepts a result as a JSON integer or a string of digits (some
// hub versions quote numbers).
type code struct {
	v   int
	set bool
}

func (c *code) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("result %s is not an integer", b)
	}
	c.v, c.set = n, true
	return nil
}

// parseResult decodes a message from the result topic. A message that
// cannot be decoded or has an unknown type is an error; entries that lack
// names (or, except for describe, a result) are skipped and listed in Bad.
func parseResult(b []byte) (inbound, error) {
	if len(b) > MaxResultBytes {
		return inbound{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(b), MaxResultBytes)
	}
	var raw struct {
		Type    *string `json:"type"`
		Payload *struct {
			Devices []struct {
				ProductID  string `json:"product_id"`
				DeviceName string `json:"device_name"`
				Result     code   `json:"result"`
			} `json:"devices"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return inbound{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if raw.Type == nil {
		return inbound{}, fmt.Errorf("%w: no type", ErrMalformed)
	}
	in := inbound{Type: *raw.Type}
	switch in.Type {
	case OpOnline, OpOffline, OpBind, OpUnbind, OpDescribe:
	default:
		return inbound{}, fmt.Errorf("%w: %q", ErrUnknownType, in.Type)
	}
	if raw.Payload == nil || raw.Payload.Devices == nil {
		if in.Type == OpDescribe {
			return in, nil // no sub-devices bound
		}
		return inbound{}, fmt.Errorf("%w: %s result without payload.devices", ErrMalformed, in.Type)
	}
	for i, d := range raw.Payload.Devices {
		r := Ref{ProductID: d.ProductID, DeviceName: d.DeviceName}
		if err := r.Validate(); err != nil {
			in.Bad = append(in.Bad, fmt.Errorf("%w: devices[%d]: %v", ErrMalformed, i, err))
			continue
		}
		if in.Type != OpDescribe && !d.Result.set {
			in.Bad = append(in.Bad, fmt.Errorf("%w: devices[%d] (%s): no result", ErrMalformed, i, r))
			continue
		}
		in.Devices = append(in.Devices, deviceResult{Ref: r, Code: d.Result.v})
	}
	return in, nil
}
