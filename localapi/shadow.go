package localapi

import (
	"encoding/json"
	"time"
)

// ShadowDocument is the device shadow: the answer of GET /v1/shadow (the
// daemon's copy), POST /v1/shadow/get (read from the hub), and of the
// updates.
type ShadowDocument struct {
	Reported map[string]json.RawMessage `json:"reported"`
	Desired  map[string]json.RawMessage `json:"desired,omitempty"`
	// Delta is the desired keys whose value differs from the reported one.
	Delta map[string]json.RawMessage `json:"delta,omitempty"`
	// Version is the hub's document version (0 before the first get).
	Version int64 `json:"version"`
	// Metadata is the hub's per-key metadata from the last get, verbatim.
	Metadata json.RawMessage `json:"metadata,omitempty"`
	// Timestamp is the hub's last change, ms since the epoch.
	Timestamp int64 `json:"timestamp,omitempty"`
	// UpdatedAt is when the daemon's copy last changed; zero before the
	// first result.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// ShadowDelta is one line of GET /v1/shadow/watch: a desired-state change.
type ShadowDelta struct {
	// State holds the changed desired keys and their values.
	State map[string]json.RawMessage `json:"state"`
	// Version is the document version the delta belongs to.
	Version int64 `json:"version"`
	// Source is "push" (sent by the hub) or "get" (the state.delta of a
	// read, e.g. after a reconnect).
	Source   string    `json:"source"`
	Received time.Time `json:"received"`
}

// ShadowReport is the body of POST /v1/shadow/report.
type ShadowReport struct {
	// Reported values are merged into the reported state.
	Reported map[string]json.RawMessage `json:"reported"`
	// ClearDesired removes, from desired, the keys being reported: "I have
	// applied these".
	ClearDesired bool `json:"clear_desired,omitempty"`
	// Overwrite replaces the reported state instead of merging.
	Overwrite bool `json:"overwrite,omitempty"`
}
