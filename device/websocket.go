package device

import (
	"fmt"
	"strings"

	"github.com/iotd/iotd/core"
)

// WebSocketConfig shapes the websocket channel: MQTT over WebSocket over
// the link driver (tls, the default, for wss; tcp for ws; either over a
// modem).
type WebSocketConfig struct {
	// Path is the HTTP path of the upgrade request (default "/", what the
	// C SDK sends; the Python SDK's paho sends "/mqtt").
	Path string `yaml:"path"`
	// Subprotocol is the WebSocket subprotocol offered (default "mqtt").
	Subprotocol string `yaml:"subprotocol"`
}

// Defaults of WebSocketConfig (the C SDK's utils_websocket_client.c).
const (
	DefaultWebSocketPath        = "/"
	DefaultWebSocketSubprotocol = "mqtt"
)

func (w WebSocketConfig) validate() error {
	if w.Path != "" && !strings.HasPrefix(w.Path, "/") {
		return &core.ConfigError{Source: "config", Field: "websocket.path", Msg: fmt.Sprintf("%q must start with /", w.Path)}
	}
	if strings.ContainsAny(w.Path, " \r\n") || strings.ContainsAny(w.Subprotocol, " ,\r\n") {
		return &core.ConfigError{Source: "config", Field: "websocket", Msg: "path and subprotocol may not contain spaces, commas or line breaks"}
	}
	return nil
}

// websocketDriverConfig wraps the carrier's driver and configuration into
// the websocket driver's configuration.
func (w WebSocketConfig) websocketDriverConfig(carrier string, carrierConfig map[string]any) map[string]any {
	path, sub := w.Path, w.Subprotocol
	if path == "" {
		path = DefaultWebSocketPath
	}
	if sub == "" {
		sub = DefaultWebSocketSubprotocol
	}
	return map[string]any{"over": carrier, "over_config": carrierConfig, "path": path, "subprotocol": sub}
}
