// Package daemon is iotd's composition root as a library: it decodes the
// configuration file, loads the device identity, opens the link through the
// driver registry, starts the bus, the MQTT uplink and the features, and
// serves the local API on a Unix socket. cmd/iotd is a thin CLI over it, and
// end-to-end tests run it in-process.
package daemon
