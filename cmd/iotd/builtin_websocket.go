//go:build !iotd_omit_websocket

package main

// The websocket driver (MQTT over WebSocket, over tls, tcp or a modem).
import _ "github.com/iotd/iotd/drivers/websocket"
