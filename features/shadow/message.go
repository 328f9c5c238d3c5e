package shadow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxDocumentBytes is the largest shadow message sent or accepted (16 KiB).
const MaxDocumentBytes = 16 << 10

// Errors for messages received on the result topic; Stats counts each.
var (
	// ErrMalformed: not JSON, or a field of the wrong type.
	ErrMalformed = errors.New("shadow: malformed result")
	// ErrUnknownType: a "type" other than get, update, delete or delta.
	ErrUnknownType = errors.New("shadow: unknown result type")
	// ErrTooLarge: a document over MaxDocumentBytes (sent or received).
	ErrTooLarge = errors.New("shadow: document too large")
)

// inbound is a parsed message from the result topic.
type inbound struct {
	Type        string // get, update, delete, delta
	Result      int
	ClientToken string
	Version     int64 // payload.version
	HasVersion  bool
	Timestamp   int64 // payload.timestamp, ms

	HasReported, HasDesired bool
	DesiredNull             bool // "desired": null in an update result
	Reported, Desired       map[string]json.RawMessage
	// Delta is state.delta of a get, or state of a delta push.
	Delta    map[string]json.RawMessage
	Metadata json.RawMessage
}

// parseResult decodes a result or delta message. Errors wrap ErrMalformed,
// ErrUnknownType or ErrTooLarge and say what is wrong.
func parseResult(b []byte) (inbound, error) {
	var in inbound
	if len(b) > MaxDocumentBytes {
		return in, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(b), MaxDocumentBytes)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil || top == nil {
		return in, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if err := get(top, "type", &in.Type); err != nil {
		return in, err
	}
	switch in.Type {
	case "get", "update", "delete", "delta":
	case "":
		return in, fmt.Errorf("%w: no \"type\"", ErrMalformed)
	default:
		return in, fmt.Errorf("%w: %q", ErrUnknownType, in.Type)
	}
	if err := get(top, "result", &in.Result); err != nil {
		return in, err
	}
	if err := get(top, "clientToken", &in.ClientToken); err != nil {
		return in, err
	}
	if in.Type != "delta" && in.ClientToken == "" {
		return in, fmt.Errorf("%w: %s result without a clientToken", ErrMalformed, in.Type)
	}
	var payload map[string]json.RawMessage
	if p, ok := top["payload"]; ok && !isNull(p) {
		if err := json.Unmarshal(p, &payload); err != nil {
			return in, fmt.Errorf("%w: payload is not an object", ErrMalformed)
		}
	}
	if v, ok := payload["version"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &in.Version); err != nil || in.Version < 0 {
			return in, fmt.Errorf("%w: payload.version is not a non-negative integer", ErrMalformed)
		}
		in.HasVersion = true
	}
	if err := get(payload, "timestamp", &in.Timestamp); err != nil {
		return in, err
	}
	if m, ok := payload["metadata"]; ok && !isNull(m) {
		in.Metadata = append(json.RawMessage(nil), m...)
	}
	var state map[string]json.RawMessage
	if s, ok := payload["state"]; ok && !isNull(s) {
		if err := json.Unmarshal(s, &state); err != nil {
			return in, fmt.Errorf("%w: payload.state is not an object", ErrMalformed)
		}
	}
	if in.Type == "delta" {
		if !in.HasVersion {
			return in, fmt.Errorf("%w: delta without payload.version", ErrMalformed)
		}
		in.Delta = state
		return in, nil
	}
	var err error
	if in.HasReported, _, in.Reported, err = object(state, "reported"); err != nil {
		return in, err
	}
	if in.HasDesired, in.DesiredNull, in.Desired, err = object(state, "desired"); err != nil {
		return in, err
	}
	if _, _, in.Delta, err = object(state, "delta"); err != nil {
		return in, err
	}
	if in.Result == 0 && in.Type == "get" && !in.HasVersion {
		return in, fmt.Errorf("%w: accepted get without payload.version", ErrMalformed)
	}
	return in, nil
}

func isNull(b json.RawMessage) bool { return string(bytes.TrimSpace(b)) == "null" }

// get decodes top[name] into v when present and not null.
func get(top map[string]json.RawMessage, name string, v any) error {
	b, ok := top[name]
	if !ok || isNull(b) {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s is not %s", ErrMalformed, name, kindOf(v))
	}
	return nil
}

func kindOf(v any) string {
	switch v.(type) {
	case *string:
		return "a string"
	case *int, *int64:
		return "an integer"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// object decodes state[name]: absent, null, or an object.
func object(state map[string]json.RawMessage, name string) (present, null bool, m map[string]json.RawMessage, err error) {
	b, ok := state[name]
	if !ok {
		return false, false, nil, nil
	}
	if isNull(b) {
		return true, true, nil, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return true, false, nil, fmt.Errorf("%w: state.%s is neither an object nor null", ErrMalformed, name)
	}
	return true, false, m, nil
}
