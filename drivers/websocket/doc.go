// Package websocket provides the "websocket" transport driver: MQTT over
// WebSocket, the hub's channel through firewalls that pass only port 443.
//
// The driver runs the WebSocket client handshake over another registered
// stream driver, its carrier, and returns a connection that carries a byte
// stream in binary messages. The carrier decides the rest: "tls" gives
// wss:// (the default), "tcp" ws://, "at.quectel" ws:// through a modem's
// socket, and "tls" with its own over: at.quectel wss:// through the modem.
// Certificate devices authenticate with the client certificate in the tls
// carrier's configuration; key devices with the MQTT username and password,
// as over TCP.
//
// The handshake is the C SDK's (utils_websocket_client.c): "GET / HTTP/1.1"
// with "Host: host:port" (the port always written), subprotocol "mqtt",
// and every MQTT packet written as one binary message. The path is
// configurable, since paho's transport (the Python SDK) uses "/mqtt". The
// hub listens on 443 for wss:// and on 80 for ws://, at
// {productId}.ap-guangzhou.iothub.tencentdevices.com and the other regions'
// domains.
//
// A configuration, all keys optional ([Config]):
//
//	{"over": "tls", "over_config": {"ca_file": "ca.pem"},
//	 "path": "/", "subprotocol": "mqtt", "headers": {"X-Trace": "1"}}
//
// Importing the package registers the driver in core.Default; [NewIn]
// makes one that finds its carrier in another registry. [NewConn] turns an
// established gorilla/websocket connection, client or server side, into
// the same byte-stream connection; hubsim's listener uses it.
package websocket
