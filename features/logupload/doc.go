// Package logupload uploads device logs to the IoT Hub's log service
// (PROTOCOL.md §3.2) with the upload level the hub sets (§2.6).
//
// Lines come from iotd's own log — [Uploader.Handler] is a slog.Handler the
// daemon tees its logger into — and from local applications through
// [Uploader.Add]. Each becomes `LVL|YYYY-MM-DD HH:MM:SS|file|func(line): text`
// (LVL one of ERR, WRN, INF, DBG), at most [MaxLineBytes] bytes (longer
// ones are cut and end with [TruncatedMarker]), ended by "\n\f".
//
// Lines are batched: a batch is sent every FlushInterval (2s) or as soon as
// FlushBytes are waiting. A batch whose lines exceed MaxPostBytes (3000) is
// split on line boundaries into several POSTs, each with its own 112-byte
// header: the lowercase hex HMAC-SHA1 of everything after the signature,
// keyed by the device's sign key (a key device's secret text cut to 24
// characters, or the first 24 characters of the first base64 line of a cert
// device's certificate), then 'P' or 'C', "###", the product id and the
// device name '#'-padded to 10 and 48 bytes, and 10 digits of epoch seconds
// from the clock given to New (the daemon's synced clock; 0000000000 when it
// returns the zero time). A POST succeeds when the answer is JSON with
// "Retcode":0; anything else (an HTTP error, garbage, another Retcode) is
// counted and the batch is kept: in the spool directory (one file per
// batch, 0600, written atomically; bounded by SpoolBytes, oldest batches
// dropped and counted) or in memory with the same bound when no directory
// is set. Kept batches are sent first, oldest first, at the next flush; they
// are re-signed with the time of sending.
//
// The upload level comes from the hub: at start and after every
// linkstate.Connected event on bus.TopicLinkState the uploader publishes
// the C SDK's {"type": "get_log_level", "clientToken": "{pid}-{n}"} on
// $log/operation/{pid}/{dn}, and every message on
// $log/operation/result/{pid}/{dn} that carries an integer log_level sets
// it: 1 error, 2 warning, 3 info, 4 debug — lines of that severity or
// more severe are kept. Level 0 keeps error lines only and holds them until
// the link reports a communication error (a Disconnected or failed
// Connecting state with an error text); then the held lines are sent with
// the next flush. Until the hub answers, Config.Level applies (default 1).
//
// The handler never blocks the logger: it formats the record and offers it
// to a bounded queue; when the queue is full the line is dropped and
// counted. The uploader never logs through itself: records that carry
// feature=logupload (its own logger's attribute) are ignored by the
// handler, so a failing upload cannot feed itself.
//
// HTTP goes through the *http.Client passed to New, normally one over the
// registry's driver (core.HTTPTransport). The log service is plain HTTP on
// port 80; every POST asks for its connection to be closed afterwards, as
// the C SDK does, so a modem socket is not held between batches.
package logupload
