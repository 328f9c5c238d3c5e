// Package dynreg performs the IoT Hub's dynamic registration (v1,
// PROTOCOL.md §3.1): a device that knows its product id, its name and the
// product secret, but has no device secret or certificate yet, asks the hub
// for its credentials and stores them in device_info.json.
//
// The request is a JSON POST of deviceName, nonce, productId, timestamp and
// signature, where signature is the base64 text of the 40-character
// lowercase hex HMAC-SHA1 of
// "deviceName={dn}&nonce={nonce}&productId={pid}&timestamp={ts}" keyed by the
// product secret text. The body and headers are the C SDK's byte for byte
// where net/http allows: the same JSON text, Accept
// "text/xml,application/json;*/*", no User-Agent, and the SDK's
// Content-Type application/x-www-form-urlencoded although the body is JSON
// (PROTOCOL.md §8.3 item 10): that label is the one known to work, and
// whether the hub takes application/json is unconfirmed. Set
// [Config.FormContentType] to false to send application/json.
//
// The answer's payload is AES-128-CBC encrypted with the first 16 bytes of
// the product secret as key and sixteen ASCII '0' as IV, zero padded, cut to
// the answer's len. It carries either a device secret (encryptionType 2,
// the device becomes a KEY device) or a certificate and key (encryptionType
// 1, written as files next to device_info.json, 0600, atomically, then
// referenced from it).
//
// device_info.json is rewritten atomically (temp file, fsync, rename): a
// crash between the hub's answer and the write leaves the old file as it
// was, and the registration can simply be done again — for a product with
// auto-create the hub then answers 1021 (already registered), which the
// error explains. A device that already has credentials is never
// registered again ([NeedsRegistration]).
//
// All HTTP goes through the *http.Client the caller passes, normally one
// whose transport dials through the registry's driver (core.HTTPTransport).
package dynreg
