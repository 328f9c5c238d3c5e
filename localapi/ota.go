package localapi

import "time"

// OTA states, the values of [OTAStatus].State.
const (
	OTAIdle        = "idle"
	OTADownloading = "downloading"
	OTABurning     = "burning"
	OTADone        = "done"
	OTAFailed      = "failed"
)

// OTAStatus is the answer of GET /v1/ota: the firmware version and the
// state of an update.
type OTAStatus struct {
	Disabled bool `json:"disabled,omitempty"`
	// Version is the current (installed) firmware version.
	Version string `json:"version"`
	// State is OTAIdle, OTADownloading, OTABurning, OTADone or OTAFailed.
	State string `json:"state"`
	// TargetVersion and Size are the update in progress or last seen.
	TargetVersion string `json:"target_version,omitempty"`
	Size          int64  `json:"size,omitempty"`
	Bytes         int64  `json:"bytes"`
	Percent       int    `json:"percent"`
	// ResultCode and LastError describe the last failure.
	ResultCode int       `json:"result_code,omitempty"`
	LastError  string    `json:"last_error,omitempty"`
	Updated    time.Time `json:"updated,omitzero"`
	// Counters since start.
	Updates     int64 `json:"updates"`
	Installs    int64 `json:"installs"`
	Failures    int64 `json:"failures"`
	Ignored     int64 `json:"ignored"`
	BadMessages int64 `json:"bad_messages"`
}
