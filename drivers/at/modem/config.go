package modem

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/at"
)

// Config is the JSON configuration of the at.* drivers. Only Port is
// required; an empty APN lets the network pick one.
type Config struct {
	// Port is the modem's AT serial port, e.g. "/dev/ttyUSB2" or a
	// /dev/serial/by-id/...-if02-port0 link (which survives re-plugging).
	Port string `json:"port,omitempty"`
	// Baud is the line rate; 0 means 115200. USB modems ignore it.
	Baud int `json:"baud,omitempty"`
	// APN, User and Password configure the packet data context
	// (cellular). Password is never logged.
	APN      string `json:"apn,omitempty"`
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	// PIN unlocks a SIM that asks for one. Never logged.
	PIN string `json:"pin,omitempty"`
	// SSID and WiFiPassword are the Wi-Fi network an ESP-AT module joins.
	// Empty SSID keeps the module's current (stored) network.
	SSID         string `json:"ssid,omitempty"`
	WiFiPassword string `json:"wifi_password,omitempty"`
	// RegistrationTimeout bounds the wait for network registration
	// (cellular) or the Wi-Fi join; default 120s (Wi-Fi: 20s).
	RegistrationTimeout Duration `json:"registration_timeout,omitempty"`
	// CommandTimeout bounds ordinary commands, socket reads and writes
	// among them; default 5s. Opening and closing sockets and attaching
	// have their own, longer, bounds.
	CommandTimeout Duration `json:"command_timeout,omitempty"`
	// Trace writes every line crossing the port to the log at info level
	// ("at trace"), secrets hidden and data as hex: for field debugging.
	// `iotd at trace` shows the same live without it.
	Trace bool `json:"trace,omitempty"`
}

// Defaults of [Config].
const (
	DefaultRegistrationTimeout = 120 * time.Second
	DefaultCommandTimeout      = 5 * time.Second
)

// RegistrationWait bounds the wait for network registration, or the
// Wi-Fi join when wifi is set: the configured one, else the default.
func (c Config) RegistrationWait(wifi bool) time.Duration {
	switch {
	case c.RegistrationTimeout > 0:
		return time.Duration(c.RegistrationTimeout)
	case wifi:
		return 20 * time.Second
	default:
		return DefaultRegistrationTimeout
	}
}

func (c Config) cmdTimeout() time.Duration {
	if c.CommandTimeout > 0 {
		return time.Duration(c.CommandTimeout)
	}
	return DefaultCommandTimeout
}

// Validate reports a configuration that cannot work, naming the key.
func (c Config) Validate(src string) error {
	bad := func(field, msg string) error {
		return &core.ConfigError{Source: src + ": config", Field: field, Msg: msg}
	}
	if c.Baud < 0 {
		return bad("baud", "must not be negative (0 means 115200)")
	}
	if c.RegistrationTimeout < 0 {
		return bad("registration_timeout", "must not be negative")
	}
	if c.CommandTimeout < 0 {
		return bad("command_timeout", "must not be negative")
	}
	for field, v := range map[string]string{"apn": c.APN, "user": c.User, "password": c.Password, "pin": c.PIN, "ssid": c.SSID, "wifi_password": c.WiFiPassword} {
		if !at.CheckArg(v) {
			return bad(field, "contains a double quote or a control character, which an AT command cannot carry")
		}
	}
	if c.WiFiPassword != "" && c.SSID == "" {
		return bad("ssid", "is empty but wifi_password is set: name the network to join")
	}
	return nil
}

// Duration is a time.Duration written in JSON as a string ("30s", "2m").
type Duration time.Duration

// UnmarshalJSON accepts a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"30s\": %w", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// decodeConfig parses data strictly: an unknown key is an error naming it.
func decodeConfig(src string, data []byte) (Config, error) {
	var c Config
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return c, c.Validate(src)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return c, &core.ConfigError{Source: src + ": config", Msg: "not a JSON object", Err: err}
	}
	known := map[string]bool{}
	t := reflect.TypeOf(c)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		known[name] = true
	}
	for key := range raw {
		if !known[key] {
			return c, &core.ConfigError{Source: src + ": config", Msg: fmt.Sprintf("unknown key %q (known keys: %s)", key, strings.Join(slices.Sorted(maps.Keys(known)), ", "))}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return c, &core.ConfigError{Source: src + ": config", Field: te.Field, Msg: fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}
		}
		return c, &core.ConfigError{Source: src + ": config", Msg: "invalid", Err: err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, &core.ConfigError{Source: src + ": config", Msg: "unexpected data after the JSON object"}
	}
	return c, c.Validate(src)
}
