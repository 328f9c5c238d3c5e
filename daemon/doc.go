// Package daemon is iotd the daemon: a device (package device: identity,
// link, bus, uplink, features), or several under devices:, served to local
// programs. It decodes the configuration file (device.Config with the
// daemon's own keys: the socket, logging, the memory limit, plugins),
// builds the devices (one [Unit] each), and serves the local API on one
// Unix socket (each device's routes under /v1/devices/{name} too) — the generic routes (status,
// publish, subscribe, drivers, outbox, AT) and the features' own, which
// the device mounts — until its context ends. It logs why the hub refused
// a connection, and walks a first contact for `iotd run --check`.
// cmd/iotd is a thin CLI over it, and end-to-end tests run it in-process.
package daemon
