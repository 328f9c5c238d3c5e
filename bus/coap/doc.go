// Package coap is iotd's CoAP uplink: it speaks the IoT Hub's CoAP channel
// (PROTOCOL.md §4) over the datagram connections a [core.Link] makes —
// DTLS with the device's PSK by default, plain UDP when configured — and
// serves the same bus protocol as package bus/mqtt (uplink.publish,
// uplink.subscribe, uplink.unsubscribe, downlink:<filter>), so features and
// `iotd pub` do not know which channel carries their messages.
//
// A session is one DTLS handshake (done by the Link's driver) followed by
// the hub's auth exchange, which yields a token sent with every publish
// (option 61). The Link reports "connected" only after auth succeeded. A
// publish answered 4.01 (token expired or unknown) triggers one re-auth and
// one retry. The session, and with it the DTLS session, stays up between
// publishes, so a device that only reports can sleep without a handshake per
// message; it ends when the connection fails or when an exchange gets no
// answer after all retransmissions (Config.DeadAfter), and the Link redials
// with backoff; the unanswered publish is sent once more on the new session.
//
// Reliability follows RFC 7252 §4.2 rather than the C SDK's fixed interval:
// every request is confirmable, retransmitted after ACK_TIMEOUT × a random
// factor in [1, 1.5), doubling each time, up to MAX_RETRANSMIT times. One
// request is outstanding at a time (NSTART = 1). Responses are matched by
// message id (piggy-backed in the ACK) or, after an ACK with 2.03 or a true
// empty ACK (0.00), by token (a separate CON or NON response, which is
// ACKed when confirmable). Duplicates, strays and undecodable datagrams are
// counted and ignored. Message ids and tokens have the C SDK's shape: ids
// from a random start, +1, skipping 0 on the wrap; tokens of 4 bytes, random
// rather than the SDK's counter (a value the hub can only echo).
//
// CoAP has no downlink. Subscriptions are refused, except for topics fed by
// responses: the 2.05 payload answering a publish on $ota/report/{pid}/{dn}
// is delivered on the bus as a message on $ota/update/{pid}/{dn}, which is
// how the hub returns update_firmware over CoAP, so package features/ota
// works unchanged. An OTA report_version goes out with need-response "1",
// other OTA reports with "0".
//
// The auth payload is the C SDK's 16 bytes: the 14 characters
// "21010406;{connId}", a NUL and one more byte, which the SDK leaves
// uninitialised and iotd sends as 0x00 (PROTOCOL.md §4, §8.3 item 11). The
// 16-byte form is the only one known to work with the hub; whether it also
// takes the bare 14 characters is unconfirmed (§9).
//
// Messages are encoded and decoded with go-coap's UDP codec
// (github.com/plgd-dev/go-coap/v3/udp/coder). It carries the custom
// options 61 and 62 as opaque values, and a Uri-Path option is written as
// given, so the whole topic with its slashes travels in one option as the
// hub expects; go-coap's own SetPath, which splits at slashes, is not used.
package coap
