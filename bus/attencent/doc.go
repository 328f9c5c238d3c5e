// Package attencent is iotd's uplink for modules running Tencent's
// customised AT firmware (the "TC" command set: QCloud_IoT_AT_ESP8266 and
// the cellular TC firmwares): the module itself is the MQTT client, signs
// in with the device secret and keeps the TLS connection, and iotd drives
// it over its serial port through the AT engine (drivers/at). It serves the
// same bus protocol as package bus/mqtt (uplink.publish, uplink.subscribe,
// uplink.unsubscribe, downlink:<filter>, link.state), so features and
// `iotd pub` do not know which channel carries their messages.
//
// The command set, as the simulator (drivers/at/atsim, dialect tencent)
// answers it and with its sources, is drivers/at/atsim/testdata/tencent.md.
//
// A session: the port is opened and the engine resyncs (the module may be
// in any state, mid-command from a crashed process), ATE0, AT+TCMODULE
// (ERROR means no TC firmware: [ErrNoTCFirmware]) and AT+TCVER, AT+CWJAP
// when a Wi-Fi network is configured and not joined, AT+TCMQTTDISCONN to
// end a client task an earlier run left, AT+TCDEVINFOSET with the key
// device's identity (tls_mode 1: the only mode the ESP firmware takes;
// certificate devices cannot use this channel), AT+TCMQTTCONN with the
// keepalive, clean session and the module's own reconnect on, then the
// subscriptions. The link is "connected" on +TCMQTTCONN:OK.
//
// The module reconnects by itself: +TCMQTTDISCON,-103 makes the link
// "disconnected", +TCMQTTRECONNECTING "connecting", +TCMQTTRECONNECTED
// "connected" again, with the subscriptions the module restored and any
// made meanwhile. The uplink redoes the whole session, after core's
// jittered backoff and forever (the firmware stops after about a minute),
// when the module gives up (+TCMQTTDISCON,-106), reboots (its "ready"
// banner), loses Wi-Fi, stops answering, says its client is not connected
// when it should be, or does not reconnect within reconnectGrace.
//
// Publishes are served one at a time, oldest first, while the module is
// connected; they wait in a bounded queue otherwise. A payload that is
// text and fits the firmware's 256-byte command line goes in
// AT+TCMQTTPUB, escaped; others (up to 2048 bytes) with AT+TCMQTTPUBL
// after its prompt, or AT+TCMQTTPUBRAW when PUBL's escape rewriting would
// change them. QoS 1 is acknowledged on the module's +TCMQTTPUB:OK, which
// it prints after the PUBACK. A QoS 1 publish the module reports unsent or
// unacknowledged is sent again, up to three times.
//
// Received messages (+TCMQTTRCVPUB) are delimited by their length, not by
// the line end, so payloads with quotes, commas or CR LF arrive intact
// (rcvpub.go). The URC carries no QoS; the subscription's is reported.
//
// OTA goes through the module too (ota.go, otasess.go): [Uplink.SetOTAVersion]
// turns the module's OTA task on with AT+TCOTASET, the module downloads
// an update itself and says so with +TCOTASTATUS ([Uplink.OTAEvents]), and
// [Uplink.ReadFirmware] reads the image out of its flash with AT+TCFWINFO?
// and AT+TCREADFWDATA, a chunk per turn of the session so publishes go on.
// While the module downloads it refuses most commands (+CME ERROR:200):
// they wait, short publishes excepted.
//
// The device secret travels only in AT+TCDEVINFOSET, a Secret command:
// the engine never logs its arguments or puts them in errors, and a trace
// shows its name only.
package attencent
