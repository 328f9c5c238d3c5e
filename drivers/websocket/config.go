package websocket

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/iotd/iotd/core"
)

// Defaults of [Config].
const (
	// DefaultOver is the carrier when Config.Over is empty: TLS, so that
	// the driver speaks wss:// (the hub's port 443) unless told otherwise.
	DefaultOver = "tls"
	// DefaultPath is the request path of the C SDK, which sends "GET /".
	// paho's websocket transport (the Python SDK) sends "/mqtt" instead.
	DefaultPath = "/"
	// DefaultSubprotocol is the one MQTT over WebSocket registers.
	DefaultSubprotocol = "mqtt"
)

// Config is the JSON configuration of the "websocket" driver. The zero
// value runs "GET / HTTP/1.1" with subprotocol "mqtt" over the "tls"
// driver with its defaults.
type Config struct {
	// Over names the registered stream driver that carries the WebSocket:
	// "tls" (wss://, the default), "tcp" (ws://), "at.quectel" (ws://
	// through a modem's socket), or "tls" whose own over_config names a
	// modem (wss:// through the modem). It must not be "websocket".
	Over string `json:"over,omitempty"`
	// OverConfig is the JSON configuration of the Over driver (for "tls":
	// ca_file, cert_file and key_file of a certificate device, ...).
	OverConfig json.RawMessage `json:"over_config,omitempty"`
	// Path is the request path, with an optional query; it starts with
	// "/". Empty means [DefaultPath].
	Path string `json:"path,omitempty"`
	// Subprotocol is offered in Sec-WebSocket-Protocol, and the server
	// must select it. Empty means [DefaultSubprotocol].
	Subprotocol string `json:"subprotocol,omitempty"`
	// Headers are extra request headers, sent as given. "Host" replaces
	// the default "host:port" of the address dialled; the headers the
	// handshake itself sets (Upgrade, Connection, Sec-WebSocket-*) are
	// refused.
	Headers map[string]string `json:"headers,omitempty"`
}

// configKeys are Config's JSON names, for strict decoding.
var configKeys = []string{"headers", "over", "over_config", "path", "subprotocol"}

// handshakeHeaders are set by the handshake and cannot be overridden.
var handshakeHeaders = []string{"Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
	"Sec-Websocket-Extensions", "Sec-Websocket-Protocol", "Sec-Websocket-Accept"}

// decodeConfig parses data strictly: keys must be spelled exactly as
// Config's JSON names (encoding/json alone would take "Path" for "path"),
// and nothing may follow the object. Empty data or null is the zero Config.
func decodeConfig(data []byte) (Config, error) {
	var c Config
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return c, nil
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return c, &core.ConfigError{Source: "websocket: config", Msg: "not a JSON object", Err: err}
	}
	for k := range keys {
		if !slices.Contains(configKeys, k) {
			return c, invalid("", fmt.Sprintf("unknown key %q (known keys: %s)", k, strings.Join(configKeys, ", ")))
		}
	}
	if err := json.Unmarshal(data, &c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return c, invalid(te.Field, fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value))
		}
		return c, &core.ConfigError{Source: "websocket: config", Msg: "invalid", Err: err}
	}
	return c, nil
}

func invalid(field, msg string) error {
	return &core.ConfigError{Source: "websocket: config", Field: field, Msg: msg}
}

// withDefaults fills the empty fields.
func (c Config) withDefaults() Config {
	if c.Over == "" {
		c.Over = DefaultOver
	}
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if c.Subprotocol == "" {
		c.Subprotocol = DefaultSubprotocol
	}
	return c
}

// Validate checks the configuration; empty fields stand for their
// defaults. It does not look the Over driver up: Open does.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Over == "websocket" {
		return invalid("over", `"websocket" cannot carry itself: name a stream driver (tls, tcp, at.quectel, ...)`)
	}
	if err := checkPath(c.Path); err != nil {
		return err
	}
	if !httpguts.ValidHeaderFieldName(c.Subprotocol) {
		return invalid("subprotocol", fmt.Sprintf("%q is not an HTTP token (letters, digits and !#$%%&'*+-.^_`|~)", c.Subprotocol))
	}
	for _, name := range slices.Sorted(maps.Keys(c.Headers)) {
		field := "headers." + name
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			return invalid(field, "not a valid header name")
		case slices.Contains(handshakeHeaders, http.CanonicalHeaderKey(name)):
			return invalid(field, "set by the WebSocket handshake itself; for the subprotocol use the subprotocol key")
		case !httpguts.ValidHeaderFieldValue(c.Headers[name]):
			return invalid(field, "the value holds a control character (a line break?)")
		}
	}
	return nil
}

// checkPath accepts an absolute request path with an optional query.
func checkPath(p string) error {
	u, err := url.ParseRequestURI(p)
	switch {
	case err != nil || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//"):
		return invalid("path", fmt.Sprintf("%q is not a request path: use one that starts with \"/\", such as \"/\" (the C SDK) or \"/mqtt\"", p))
	case u.Fragment != "" || strings.Contains(p, "#"):
		return invalid("path", fmt.Sprintf("%q holds a fragment (#), which is never sent", p))
	}
	return nil
}
