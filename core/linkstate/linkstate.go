// Package linkstate names the states of a connection to the hub: what a
// core.Link reports through its OnState callback, what the bus carries on
// its link.state topic, and what the local API shows.
//
// It is standard library only and imports nothing of iotd's, so that core
// (which produces states) and bus (which carries them) can both name the type
// without either importing the other: a driver, which links core, links no
// bus and no watermill, and a feature, which links the bus, links no driver
// registry, identity or YAML.
package linkstate

import "time"

// Status is where a connection is in its life. Its string form is the wire
// form, in JSON and in the local API.
type Status string

// The statuses, in the order a connection goes through them.
const (
	// Connecting: dialling, or the protocol handshake (MQTT CONNECT, CoAP
	// auth, the module's +TCMQTTCONN) is under way.
	Connecting Status = "connecting"
	// Connected: the protocol accepted the session (for MQTT, after CONNACK
	// and the subscriptions restored).
	Connected Status = "connected"
	// Disconnected: between attempts; State.Err says why and State.RetryIn
	// how long until the next one.
	Disconnected Status = "disconnected"
	// Stopped: the link is not running and will not try again.
	Stopped Status = "stopped"
)

// String returns the wire form.
func (s Status) String() string { return string(s) }

// State is one report of a connection's state.
type State struct {
	// State is the status.
	State Status `json:"state"`
	// Driver is the registry name of the driver in use ("tls", "at.quectel",
	// "at-tencent" for a module that is the link itself).
	Driver string `json:"driver"`
	// Endpoint is the address dialled (a serial port for a module).
	Endpoint string `json:"endpoint"`
	// Attempt counts consecutive failed attempts (0 once connected).
	Attempt int `json:"attempt,omitempty"`
	// Err says why the link is not connected, when it is not.
	Err string `json:"error,omitempty"`
	// RetryIn is the wait before the next attempt, when one is scheduled.
	RetryIn time.Duration `json:"retry_in_ns,omitempty"`
	// Since is when the link entered this state.
	Since time.Time `json:"since"`
}
