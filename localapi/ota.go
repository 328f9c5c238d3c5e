package localapi

import "time"

// OTA states, the values of [OTAStatus].State.
const (
	OTAIdle        = "idle"
	OTADownloading = "downloading"
	OTABurning     = "burning"
	OTADone        = "done"
	OTAFailed      = "failed"
	// OTARebootPending: installed, waiting for the device to run the new
	// version after a reboot (an A/B install).
	OTARebootPending = "reboot_pending"
)

// OTAStatus is the answer of GET /v1/ota: the firmware version and the
// state of an update.
type OTAStatus struct {
	Disabled bool `json:"disabled,omitempty"`
	// Version is the current (installed) firmware version.
	Version string `json:"version"`
	// State is OTAIdle, OTADownloading, OTABurning, OTARebootPending,
	// OTADone or OTAFailed.
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

// OTAReport is the body of POST /v1/ota/begin, /v1/ota/success and
// /v1/ota/fail: the program reports an install it runs itself, or confirms
// (or rejects) one waiting for its reboot.
type OTAReport struct {
	// Version is the firmware version concerned; "" on success and fail
	// means the update in progress or waiting for its reboot.
	Version string `json:"version,omitempty"`
	// Code is a fail report's negative result code (0: -5, install failed).
	Code int `json:"code,omitempty"`
	// Message is a fail report's reason, shown in the console.
	Message string `json:"message,omitempty"`
}
