// Package device is iotd as a Go library: one device connected to the
// hub, built from the configuration the daemon uses (the keys of iotd.yaml
// that are not the daemon's own), with its own identity, link, bus, uplink
// and features, so that several devices run in one process side by side.
//
// The lifecycle is New, then Run once:
//
//   - [New] loads device_info.json, resolves the link's driver (from
//     core.Default unless [WithRegistry] says otherwise) and builds every
//     feature the configuration enables, without network I/O.
//   - [Device.Run] connects (reconnecting with backoff forever), starts the
//     features once the uplink serves, and runs until its ctx ends; it then
//     stops everything, closes the device and returns nil. [Device.Ready]
//     is closed once it serves.
//   - [Device.Close] releases a device that will not run.
//
// [Device.Publish] and [Device.Subscribe] work from Ready on; before Run a
// publish is refused at once (ErrNotRunning) and a subscribe waits for Run,
// bounded by its ctx. Neither waits longer than its ctx: a publish the hub
// has not acknowledged yet waits in the uplink's queue and is withdrawn
// when ctx ends (NotSent), unless it is on the wire already (Stored).
//
// Features register themselves with package feature: a program links the
// ones it wants with blank imports, as cmd/iotd does, and the
// configuration's features: section turns them on or off. A device's state
// (queues, OTA checkpoints) lives in its state_dir; give each device of a
// process its own, and its own device_info.
//
// The daemon (package daemon) is a Device served on a Unix socket: what it
// needs beyond Publish and Subscribe is here for any program that serves a
// device to others — [Device.Routes] (the features' local API routes),
// [Device.DeadLetters] and its siblings, [Device.Contact] and
// [Device.LinkConfig] (what the link dials and trusts), [Device.Link].
// [Register] registers a device that has only a product secret.
//
// [Device.Shadow] and [Device.Gateway] are the shadow's and the gateway's
// typed Go APIs (feature.ShadowAPI, feature.GatewayAPI), for a program
// that links those features.
//
// No watermill type appears in this package's signatures; [Device.Bus] is
// the escape hatch to the bus for code that speaks its protocol.
package device
