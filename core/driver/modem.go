package driver

import (
	"context"
	"log/slog"
	"time"
)

// Optional capabilities of a driver that owns AT modems (the at.* drivers).
// They let the daemon show a modem's state, trace its serial line and run
// one command on it without knowing the driver's package: a build without
// the AT drivers links none of them, and a vendor's modem driver may offer
// the same. The daemon finds them on registered drivers with [Lookup].
//
// A modem is named by its port ("/dev/ttyUSB2"). A driver knows only the
// modems it has open: a modem opens at the first dial through it and stays
// open while any of the driver's dialers on that port does.

// ModemInspector reports the modems a driver has open.
type ModemInspector interface {
	// Modems returns the state of every modem the driver has open, sorted
	// by port. With refresh it first asks each modem that is up for its
	// network and signal state, unless it did so within the driver's
	// minimum interval (the queries share the serial line with the data,
	// so a driver bounds how often they run); a query that fails keeps
	// the last value and its time. ctx bounds the wait for the answers,
	// not the queries: a modem that has not answered in time is reported
	// as last known. Modems never returns an error: a modem that cannot
	// be asked says so in ModemStatus.Error.
	Modems(ctx context.Context, refresh bool) []ModemStatus
}

// ModemStatus is what a modem says about itself and its network. Empty
// fields are unknown. It holds no secret.
type ModemStatus struct {
	// Driver is the driver's name ("at.quectel"); Dialect the module
	// family in use (the one detected, for the "at" driver).
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
	// Operator is the network's name (or its numeric MCC MNC when the
	// module knows no name); SSID the Wi-Fi network joined.
	Operator string `json:"operator,omitempty"`
	SSID     string `json:"ssid,omitempty"`
	// Technology is the access technology ("LTE", "LTE Cat-M1", "GSM",
	// "Wi-Fi").
	Technology string `json:"technology,omitempty"`
	// Registration is "home", "roaming", "searching", "denied", "not
	// registered" or "unknown" (cellular); "joined" or "not joined"
	// (Wi-Fi).
	Registration string `json:"registration,omitempty"`
	// RSSI is the received signal strength in dBm (AT+CSQ; Wi-Fi: the
	// access point's); RSRP (dBm) and RSRQ (dB) are LTE's reference
	// signal power and quality (AT+CESQ). 0 means unknown.
	RSSI int     `json:"rssi_dbm,omitempty"`
	RSRP int     `json:"rsrp_dbm,omitempty"`
	RSRQ float64 `json:"rsrq_db,omitempty"`
	// SignalAt and NetworkAt are when the signal and the network fields
	// were last read; zero before the first answer.
	SignalAt  time.Time `json:"signal_at,omitzero"`
	NetworkAt time.Time `json:"network_at,omitzero"`
	// Error is why the last refresh (or the bring-up) failed, "" when it
	// did not.
	Error string `json:"error,omitempty"`
}

// ATCommander runs one AT command on a modem the driver has open, for a
// person debugging it (`iotd at send`).
type ATCommander interface {
	// ATCommand runs command (the whole line without its line end,
	// "AT+CSQ") on the modem at port, or on the driver's only modem when
	// port is "". It queues with the driver's own commands, so it never
	// cuts into a socket's exchange. timeout bounds the wait for the final
	// result; 0 means the driver's default.
	//
	// A failing final result (ERROR, +CME ERROR: n) returns the reply,
	// its Final set, and an error. A command that needs a data prompt
	// (it would wait for a payload), text with a line end, and a port the
	// driver has no modem on are refused with an error that says so.
	ATCommand(ctx context.Context, port, command string, timeout time.Duration) (ATReply, error)
}

// ATReply is the answer to one AT command.
type ATReply struct {
	// Port is the modem's port.
	Port string `json:"port"`
	// Lines are the information lines, in order.
	Lines []string `json:"lines"`
	// Final is the final result line ("OK", "ERROR", "+CME ERROR: 10");
	// "" when none came (a timeout).
	Final string `json:"final,omitempty"`
}

// ATTracer streams every line crossing a modem's serial port.
type ATTracer interface {
	// ATTrace calls fn with each event on the modem at port, or on every
	// modem of the driver when port is "" (including modems it opens
	// later), until stop is called; stop waits for no call in progress
	// to end, so fn must tolerate one more call while stop runs. fn runs
	// on the modem's own goroutines: it must not block. Tracing costs
	// nothing while no one listens.
	//
	// Events never carry a secret: a command that holds a PIN or a
	// password shows its name only, as does its echo, and socket data
	// shows as its length and a hex prefix.
	ATTrace(port string, fn func(ATTraceEvent)) (stop func())
}

// ATTraceEvent is one crossing of a modem's serial line.
type ATTraceEvent struct {
	Time time.Time `json:"time"`
	Port string    `json:"port"`
	// Out is true for bytes the host wrote, false for bytes the module
	// sent.
	Out bool `json:"out"`
	// Kind is "command" (a command line written), "payload" (data written
	// after a prompt), "raw" (bytes written outside a command: ESC,
	// "+++"), "line" (a line read), "data" (a block of raw data read),
	// "prompt" (the module's data prompt) or "nul" (a run of NUL bytes).
	// A stream may also hold "dropped", which counts the events lost
	// because its reader was too slow.
	Kind string `json:"kind"`
	// Text is the line, or "<N bytes: hex…>" for data.
	Text string `json:"text"`
}

// LogReceiver is implemented by a driver that logs (a modem's bring-up,
// reboots, its AT trace when configured): the daemon hands it its logger
// before the first Open, so the driver's lines join the daemon's. The
// driver adds its own attributes (its name, the port) and never logs a
// secret. Without it, or before it is called, a driver logs where it was
// built to (usually nowhere).
type LogReceiver interface {
	SetLogger(l *slog.Logger)
}
