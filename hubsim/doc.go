// Package hubsim is a local emulator of Tencent Cloud IoT Hub's device side,
// so iotd (or any C SDK-compatible device) can be run and tested with no
// cloud access.
//
// What it emulates (PROTOCOL.md §1, §2):
//
//   - An MQTT 3.1.1 broker (mochi-mqtt) with a TLS listener, whose server
//     certificate is issued by a CA hubsim creates in its state directory on
//     first start (ca.pem, ca-key.pem, server.pem, server-key.pem), and a
//     plain-TCP listener. The TLS listener verifies client certificates
//     against that CA when a client presents one.
//   - CONNECT authentication: the client id is productId+deviceName of a
//     known device; the username {clientId};{appId};{connId};{expiry} must
//     name the same client id, app id 21010406 (or 12010126), a connId of 1
//     to 5 letters or digits and an expiry in the future (hub clock); key
//     devices sign it (password "hex;hmacsha256" or ";hmacsha1" over the
//     base64-decoded secret); cert devices present a certificate from the
//     hubsim CA whose CN is the client id, over TLS only. Refusals answer
//     CONNACK 2 (identifier), 4 (username/password) or 5 (not authorised),
//     are logged with the reason, and are kept per device (GET
//     /devices/{pid}/{dn}, lastRefusal) and hub-wide (GET /refusals).
//   - MQTT 3.1.1 only, like the hub (3.1's MQIsdp is accepted too): an
//     MQTT 5 CONNECT, or any other protocol level, gets the 3.1.1 CONNACK
//     1; a CONNECT that is not MQTT or is malformed (reserved flag, will
//     flags without a will, a password without a username) is closed
//     without a CONNACK. Every CONNACK is the 4-byte 3.1.1 packet with a
//     code from 0 to 5: none of mochi's MQTT 5 reason codes (0x80 and up)
//     reaches a client. The hub never sends DISCONNECT: a session taken
//     over or a hub shutting down just closes the connection.
//   - A per-device ACL ([Allowed]): {pid}/{dn}/... and $x/y[/z]/{pid}/{dn}[/...]
//     system topics; nothing over 128 characters. A denied subscribe gets
//     SUBACK 0x80. QoS 2 is denied: SUBACK 0x80 for a subscription. Retain
//     is ignored (no retained messages); a will is accepted in CONNECT and
//     ignored. A second CONNECT with the same client id takes the session
//     over and closes the first connection.
//   - Publish refusals close the connection, before any PUBACK (MQTT 3.1.1
//     has no negative PUBACK; the AT firmware reports these as errors 130,
//     131 and 132, PROTOCOL.md §1.6), for QoS 0 and 1 alike: a topic
//     outside the device's ACL (130), a payload over Config.MaxPayload (132;
//     default 16 KiB, the hub's documented limit), more publishes than
//     Config.PublishRate allows (131; a token bucket per client id that
//     reconnecting does not refill; default 30 a second with a burst of 60,
//     hubsim's own figure: the hub's is not documented), and QoS 2. Each is
//     logged with its reason, counted in the device status
//     (deniedPublishes, oversizePublishes, rateLimitedPublishes,
//     lastPublishRefusal) and kept in its message log as denied. Tests and
//     benchmarks that publish faster than a device would raise
//     Config.PublishRate; GET /info shows the limits in force.
//   - The $sys time service: {"type":"get","resource":["time"]} on
//     $sys/operation/{pid}/{dn} is answered on $sys/operation/result/{pid}/{dn}
//     with {"type":"get","time":s,"ntptime1":ms,"ntptime2":ms}. Malformed or
//     other requests are logged and not answered.
//   - The device shadow ($shadow/operation): get, update (merge or
//     overwriteUpdate), desired null clears, version checked (5005 on a
//     mismatch), delta computed as desired keys that differ from reported
//     and pushed when desired changes through the admin API; documents
//     persisted in shadows.json.
//   - RRPC: POST /devices/{pid}/{dn}/rrpc sends $rrpc/rxd/{pid}/{dn}/{id}
//     and waits for the reply on $rrpc/txd/{pid}/{dn}/{id}.
//   - Broadcast: POST /products/{pid}/broadcast sends to
//     $broadcast/rxd/{pid}/{dn} of every online device of the product.
//   - OTA: firmware uploaded through the admin API and served over HTTPS
//     (hubsim's CA, Range support, fault switches) on its own listener;
//     update_firmware pushed on $ota/update; version and progress reports
//     recorded per device (also for sub-devices online through a gateway).
//   - Gateways: bind signatures verified, topology persisted, online state
//     tracked; a gateway may use only its online sub-devices' topics.
//   - The log service (POST /cgi-bin/report-log, signatures verified, lines
//     kept per device) and $log/operation levels.
//   - Dynamic registration (POST /register/dev): signature, AES payload, the
//     hub's error codes; per product off, pre-created names or auto-create.
//   - CoAP over DTLS (PSK: identity product id + device name, key the
//     decoded secret) and optionally plain CoAP, on UDP (Config.CoAPAddr,
//     CoAPPlainAddr): the auth exchange and expiring tokens, the options 61
//     (token) and 62 (need response), 4.01/4.02/4.03/4.13 refusals, a
//     duplicate cache, separate 2.03 + CON 2.05 responses on request, data
//     delivered through [Hub.Ingest] like MQTT data, and report_version
//     answered with the pending update_firmware.
//   - A message log: every device publish (and every hub publish to a
//     device) is kept in a ring of 256 per device (Config.MessageLog;
//     negative keeps none, for fleets of thousands).
//
// # Services
//
// Cloud features are [Service]s started by the Hub: each registers
// [Handler]s for device topics with [Hub.Handle], publishes with
// [Hub.Publish], mounts admin routes on [Hub.Admin], widens the ACL with
// [Hub.AllowACL], runs background work with [Hub.Go], and feeds messages
// from other transports (CoAP) through [Hub.Ingest]. The registry is
// [Hub.Store].
//
// # Go API for tests
//
//	h, err := hubsim.Start(ctx, hubsim.Config{StateDir: t.TempDir(),
//		TLSAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
//		Now: clock, Logger: logger})
//	defer h.Close()
//	h.TLSAddr(); h.TCPAddr(); h.AdminURL(); h.CAFile()
//	info, err := h.CreateDevice("PRODUCT1", "dev1", false) // *core.DeviceInfo
//	path, err := h.WriteDeviceInfo("PRODUCT1", "dev1", dir) // dir/device_info.json (+ cert files, CA)
//	h.Messages("PRODUCT1", "dev1"); h.Status(...); h.Refusals()
//	h.Publish("PRODUCT1/dev1/control", payload, 1)
//
// An empty address means the default (127.0.0.1:8883, :1883, :8080); [Off]
// ("-") disables a listener.
//
// # Admin API (JSON, loopback)
//
//	GET   /info                              addresses, the CA PEM and the publish limits
//	GET   /products                          POST /products {"productId"}
//	GET   /devices[?product=P]               POST /devices {"productId","deviceName","authMode":"KEY"|"CERT"}
//	POST  /devices/bulk                      {"productId","deviceNames":[...]|"prefix","count","authMode","reuse"}:
//	                                         many devices, one registry write; credentials back
//	GET   /devices/{pid}/{dn}                device and status (no credentials)
//	PATCH /devices/{pid}/{dn}                {"disabled":true|false}
//	GET   /devices/{pid}/{dn}/credentials    secret or cert+key, product secret, CA
//	GET   /devices/{pid}/{dn}/messages       message log, oldest first
//	POST  /devices/{pid}/{dn}/publish?topic=T&qos=Q   body = payload
//	POST  /products/{pid}/ota                {"version"}: push an uploaded firmware to every online device
//	GET   /refusals                          recent CONNECT refusals
//	GET   /coap                              the CoAP endpoint: addresses, mode, counters
//	PUT   /coap/mode {"separate":bool}       piggy-backed or separate responses
//	DELETE /devices/{pid}/{dn}/coap/tokens   expire the device's CoAP tokens now
//
// Bodies are decoded strictly (unknown fields are errors); errors are
// {"error": "..."} with 400, 404 or 409. [Client] wraps the API.
//
// # State directory
//
// registry.json (products, devices and their credentials; 0600, written
// atomically), the CA and server certificate, and hubsim.lock: a running
// hub holds an flock on it, so the CLI can safely edit the registry offline
// only when no hub runs ([OpenState]).
package hubsim
