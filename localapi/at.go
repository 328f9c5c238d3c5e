package localapi

import "time"

// ModemStatus is one AT modem in GET /v1/at/modems and in [Status]: what
// it says about itself and its network. Empty fields are unknown. It holds
// no secret.
type ModemStatus struct {
	// Driver is the driver's name ("at.quectel"); Dialect the module
	// family in use.
	Driver  string `json:"driver"`
	Dialect string `json:"dialect,omitempty"`
	Port    string `json:"port"`
	// Up reports that the modem is brought up and ready for sockets.
	Up bool `json:"up"`
	// Model, Firmware and IMEI identify the module; ICCID the SIM card.
	Model    string `json:"model,omitempty"`
	Firmware string `json:"firmware,omitempty"`
	IMEI     string `json:"imei,omitempty"`
	ICCID    string `json:"iccid,omitempty"`
	// Operator is the network's name; SSID the Wi-Fi network joined.
	Operator string `json:"operator,omitempty"`
	SSID     string `json:"ssid,omitempty"`
	// Technology is the access technology ("LTE", "GSM", "Wi-Fi", ...).
	Technology string `json:"technology,omitempty"`
	// Registration is "home", "roaming", "searching", "denied", "not
	// registered" or "unknown" (cellular); "joined" or "not joined" (Wi-Fi).
	Registration string `json:"registration,omitempty"`
	// RSSI, RSRP (dBm) and RSRQ (dB); 0 means unknown.
	RSSI int     `json:"rssi_dbm,omitempty"`
	RSRP int     `json:"rsrp_dbm,omitempty"`
	RSRQ float64 `json:"rsrq_db,omitempty"`
	// SignalAt and NetworkAt are when the signal and the network fields
	// were last read; zero before the first answer.
	SignalAt  time.Time `json:"signal_at,omitzero"`
	NetworkAt time.Time `json:"network_at,omitzero"`
	// Error is why the last refresh (or the bring-up) failed.
	Error string `json:"error,omitempty"`
}

// TraceDropped is the Kind of a trace event that counts the events lost
// because the reader was too slow.
const TraceDropped = "dropped"

// ATTraceEvent is one line of GET /v1/at/trace: one crossing of a modem's
// serial line.
type ATTraceEvent struct {
	Time time.Time `json:"time"`
	Port string    `json:"port"`
	// Out is true for bytes the host wrote, false for bytes the module sent.
	Out bool `json:"out"`
	// Kind is "command", "payload", "raw", "line", "data", "prompt", "nul",
	// or TraceDropped.
	Kind string `json:"kind"`
	// Text is the line, or "<N bytes: hex…>" for data.
	Text string `json:"text"`
}

// ATSendRequest is the body of POST /v1/at/send: one AT command to run on
// a modem.
type ATSendRequest struct {
	// Port names the modem; "" means the only one open.
	Port    string `json:"port,omitempty"`
	Command string `json:"command"`
	// Timeout bounds the wait for the final result; 0 means the driver's
	// command timeout.
	Timeout time.Duration `json:"timeout_ns,omitempty"`
}

// ATSendResult is the command's answer. Error is set when the command
// failed (a failing final result, a timeout, a command refused): the lines
// and the final result the module sent are still there.
type ATSendResult struct {
	// Port is the modem's port.
	Port string `json:"port"`
	// Lines are the information lines, in order.
	Lines []string `json:"lines"`
	// Final is the final result line ("OK", "ERROR", "+CME ERROR: 10");
	// "" when none came.
	Final  string `json:"final,omitempty"`
	Driver string `json:"driver"`
	Error  string `json:"error,omitempty"`
}
