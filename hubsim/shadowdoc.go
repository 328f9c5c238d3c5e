package hubsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Shadow result codes. 0 and 5005 are the hub's (PROTOCOL.md §2.2); the
// others are hubsim's own choice, the real hub's codes for these cases are
// not documented.
const (
	ShadowOK       = 0
	ShadowConflict = 5005 // "version" differs from the document's
	ShadowInvalid  = 5001 // malformed request: wrong types, missing state
	ShadowTooLarge = 5002 // request or resulting document over MaxShadowBytes
	ShadowUnknown  = 5003 // unknown "type"
)

// MaxShadowBytes bounds a shadow request and a stored document (16 KiB).
const MaxShadowBytes = 16 << 10

// ErrShadowRequest is wrapped by errors for a shadow request the hub
// rejects.
var ErrShadowRequest = errors.New("hubsim: shadow request")

// ShadowDocument is one device's shadow as the hub stores it.
type ShadowDocument struct {
	Reported map[string]json.RawMessage `json:"reported,omitempty"`
	Desired  map[string]json.RawMessage `json:"desired,omitempty"`
	// Version increments on every change.
	Version int64 `json:"version"`
	// Metadata holds the last change of each key, ms since the epoch.
	Metadata ShadowMetadata `json:"metadata"`
	// Timestamp is the last change of the document, ms since the epoch.
	Timestamp int64 `json:"timestamp"`
}

// ShadowMetadata holds per-key timestamps (ms), as in the Tencent doc's
// metadata object.
type ShadowMetadata struct {
	Reported map[string]ShadowKeyMeta `json:"reported,omitempty"`
	Desired  map[string]ShadowKeyMeta `json:"desired,omitempty"`
}

// ShadowKeyMeta is one key's metadata.
type ShadowKeyMeta struct {
	Timestamp int64 `json:"timestamp"`
}

// Delta returns the desired keys whose value differs from the reported one
// (compared as JSON values), or nil when there is none — what the hub
// returns as state.delta and pushes as a delta.
func (d *ShadowDocument) Delta() map[string]json.RawMessage {
	var out map[string]json.RawMessage
	for k, want := range d.Desired {
		if have, ok := d.Reported[k]; ok && sameJSON(have, want) {
			continue
		}
		if out == nil {
			out = map[string]json.RawMessage{}
		}
		out[k] = want
	}
	return out
}

func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	ca, _ := json.Marshal(va) // map keys come out sorted
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
}

// ShadowRequest is a device's request on $shadow/operation/{pid}/{dn}.
type ShadowRequest struct {
	Type        string
	ClientToken string
	// Version is the device's idea of the document version; nil or 0
	// skips the check.
	Version *int64
	// Overwrite replaces reported/desired instead of merging.
	Overwrite bool
	// HasReported/HasDesired say whether the parts were present;
	// ClearDesired is "desired": null.
	HasReported, HasDesired bool
	ClearDesired            bool
	Reported, Desired       map[string]json.RawMessage
}

// ParseShadowRequest decodes a shadow request. The error wraps
// ErrShadowRequest and says what is wrong; the returned request keeps the
// type and client token found so far so that the hub can still answer.
func ParseShadowRequest(b []byte) (ShadowRequest, int, error) {
	var r ShadowRequest
	if len(b) > MaxShadowBytes {
		return r, ShadowTooLarge, fmt.Errorf("%w: %d bytes, the limit is %d", ErrShadowRequest, len(b), MaxShadowBytes)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return r, ShadowInvalid, fmt.Errorf("%w: not a JSON object", ErrShadowRequest)
	}
	if err := field(raw, "clientToken", &r.ClientToken); err != nil {
		return r, ShadowInvalid, err
	}
	if err := field(raw, "type", &r.Type); err != nil {
		return r, ShadowInvalid, err
	}
	if err := field(raw, "overwriteUpdate", &r.Overwrite); err != nil {
		return r, ShadowInvalid, err
	}
	if v, ok := raw["version"]; ok && string(v) != "null" {
		var n int64
		if err := json.Unmarshal(v, &n); err != nil || n < 0 {
			return r, ShadowInvalid, fmt.Errorf("%w: version is not a non-negative integer", ErrShadowRequest)
		}
		r.Version = &n
	}
	switch r.Type {
	case "get", "delete":
		return r, ShadowOK, nil
	case "update":
	default:
		return r, ShadowUnknown, fmt.Errorf("%w: type %q: use get, update or delete", ErrShadowRequest, r.Type)
	}
	var state map[string]json.RawMessage
	if err := json.Unmarshal(raw["state"], &state); err != nil || state == nil {
		return r, ShadowInvalid, fmt.Errorf("%w: update without a \"state\" object", ErrShadowRequest)
	}
	var err error
	if r.HasReported, _, r.Reported, err = part(state, "reported"); err != nil {
		return r, ShadowInvalid, err
	}
	if r.HasDesired, r.ClearDesired, r.Desired, err = part(state, "desired"); err != nil {
		return r, ShadowInvalid, err
	}
	if !r.HasReported && !r.HasDesired {
		return r, ShadowInvalid, fmt.Errorf("%w: state has neither reported nor desired", ErrShadowRequest)
	}
	return r, ShadowOK, nil
}

func field(raw map[string]json.RawMessage, name string, v any) error {
	b, ok := raw[name]
	if !ok || string(b) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s has the wrong type (%T expected)", ErrShadowRequest, name, v)
	}
	return nil
}

// part decodes state.reported or state.desired: absent, null, or an object.
func part(state map[string]json.RawMessage, name string) (present, null bool, m map[string]json.RawMessage, err error) {
	b, ok := state[name]
	if !ok {
		return false, false, nil, nil
	}
	if string(bytes.TrimSpace(b)) == "null" {
		return true, true, nil, nil
	}
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return true, false, nil, fmt.Errorf("%w: state.%s is neither an object nor null", ErrShadowRequest, name)
	}
	return true, false, m, nil
}

// applyUpdate applies an update to a copy of d at time nowMS. A key set to
// null is removed; "desired": null removes every desired key; Overwrite
// replaces the parts given. It returns the new document and whether the
// desired part changed.
func applyUpdate(d ShadowDocument, r ShadowRequest, nowMS int64) (ShadowDocument, bool) {
	d = d.clone()
	if r.HasReported {
		if r.Overwrite {
			d.Reported, d.Metadata.Reported = nil, nil
		}
		d.Reported, d.Metadata.Reported = mergeKeys(d.Reported, d.Metadata.Reported, r.Reported, nowMS)
	}
	desiredChanged := false
	if r.HasDesired {
		desiredChanged = true
		if r.ClearDesired || r.Overwrite {
			d.Desired, d.Metadata.Desired = nil, nil
		}
		d.Desired, d.Metadata.Desired = mergeKeys(d.Desired, d.Metadata.Desired, r.Desired, nowMS)
	}
	d.Version++
	d.Timestamp = nowMS
	return d, desiredChanged
}

func mergeKeys(dst map[string]json.RawMessage, meta map[string]ShadowKeyMeta, src map[string]json.RawMessage, nowMS int64) (map[string]json.RawMessage, map[string]ShadowKeyMeta) {
	for k, v := range src {
		if string(bytes.TrimSpace(v)) == "null" {
			delete(dst, k)
			delete(meta, k)
			continue
		}
		if dst == nil {
			dst = map[string]json.RawMessage{}
		}
		if meta == nil {
			meta = map[string]ShadowKeyMeta{}
		}
		dst[k] = slices.Clone(v)
		meta[k] = ShadowKeyMeta{Timestamp: nowMS}
	}
	if len(dst) == 0 {
		dst, meta = nil, nil
	}
	return dst, meta
}

func (d ShadowDocument) clone() ShadowDocument {
	d.Reported = maps.Clone(d.Reported)
	d.Desired = maps.Clone(d.Desired)
	d.Metadata.Reported = maps.Clone(d.Metadata.Reported)
	d.Metadata.Desired = maps.Clone(d.Metadata.Desired)
	return d
}

// shadowState is payload.state of a get result.
type shadowState struct {
	Reported map[string]json.RawMessage `json:"reported,omitempty"`
	Desired  map[string]json.RawMessage `json:"desired,omitempty"`
	Delta    map[string]json.RawMessage `json:"delta,omitempty"`
}

// ShadowResult is a message on $shadow/operation/result/{pid}/{dn}.
type ShadowResult struct {
	Type        string `json:"type"`
	Result      int    `json:"result"`
	ClientToken string `json:"clientToken,omitempty"`
	Timestamp   int64  `json:"timestamp"` // seconds
	Payload     any    `json:"payload,omitempty"`
}

// getPayload is the payload of a get result: the whole document with the
// server-computed delta.
func getPayload(d ShadowDocument) map[string]any {
	return map[string]any{
		"state":     shadowState{Reported: d.Reported, Desired: d.Desired, Delta: d.Delta()},
		"metadata":  d.Metadata,
		"timestamp": d.Timestamp,
		"version":   d.Version,
	}
}

// updatePayload is the payload of an update result: only the fields just
// updated, with the new version.
func updatePayload(d ShadowDocument, r ShadowRequest) map[string]any {
	state := map[string]any{}
	if r.HasReported {
		state["reported"] = r.Reported
	}
	if r.HasDesired {
		if r.ClearDesired {
			state["desired"] = nil
		} else {
			state["desired"] = r.Desired
		}
	}
	return map[string]any{"state": state, "timestamp": d.Timestamp, "version": d.Version}
}

// deltaPayload is the payload of a delta push: the delta keys directly
// under state, and the version.
func deltaPayload(d ShadowDocument, delta map[string]json.RawMessage) map[string]any {
	return map[string]any{"state": delta, "timestamp": d.Timestamp, "version": d.Version}
}
