// Package shadow is the device shadow feature (PROTOCOL.md §2.2): it keeps
// the device's last known shadow document (reported, desired, version),
// reports properties, clears desired state, and hands desired changes
// (deltas) to per-property handlers.
//
// Wire: requests are published with QoS 0 on $shadow/operation/{pid}/{dn}
// and results read on $shadow/operation/result/{pid}/{dn}. Every request
// carries a clientToken "{pid}-{n}" (n counts from 0) and waits at most
// Config.Timeout for its result; at most Config.MaxPending are outstanding.
//
// Versions. A document's version grows with every change on the hub.
// Following the Java SDK, an update that only reports sends no version (the
// hub skips the check, a report cannot lose anyone's data), while an update
// that clears desired state sends the local version, so that the hub
// answers 5005 instead of wiping a desired value this device has not seen.
// On 5005 the shadow re-reads the document (which feeds any newer delta to
// the handlers) and retries once with the fresh version.
//
// Deltas arrive pushed by the hub or inside a get result (state.delta).
// A pushed delta whose version is not above the local document's is stale
// and dropped (debug log, counted); the others are applied in arrival
// order, which is version order on one MQTT connection. The document is
// re-read at start and after every reconnect (linkstate.Connected on
// bus.TopicLinkState), so a delta pushed while the device was offline is
// still applied.
//
// Desired policy: after the handlers of a delta accepted their values, the
// shadow reports those values and clears exactly those desired keys
// ({"desired":{"k":null}}), so the hub stops sending the delta. With
// Config.ManualDesired it does neither and the application calls
// ReportAndClearDesired or ClearDesired itself (the C SDK's behaviour).
//
// Values are encoded with encoding/json, so strings are escaped properly
// (the C SDK quotes them without escaping). Documents over 16 KiB are
// refused when sending and dropped (logged, counted) when received.
// Malformed results, unknown types and deltas for unregistered properties
// are logged with the reason and counted in Stats; they never disturb other
// requests.
package shadow
