// Package feature is the contract between iotd's daemon and its features
// (shadow, OTA, RRPC, ...): what a feature is, what it is given, and how it
// is found. It is to features what core/driver and core.Registry are to
// transports, and database/sql/driver to SQL drivers: a feature package
// implements [Module] and registers it from init; the daemon decodes the
// configuration, builds every registered module over one shared [Env],
// runs them, mounts their local API routes and reports their status,
// without importing any feature package. cmd/iotd decides which features
// are linked, with one blank import per feature (builtin_feature_*.go, each
// left out by its iotd_omit_<name> build tag).
//
// A module's life:
//
//  1. Register(Module) from the feature package's init: a name, which is
//     its key under `features:` in iotd.yaml, a constructor for its empty
//     config section, the capabilities it needs of the channel, and New.
//  2. The daemon decodes the configuration file strictly with
//     [DecodeConfig]: each module's section decodes into the value its
//     Config returns, an unknown key anywhere is an error naming the key and
//     its line, as for the daemon's own keys. Then Section.Validate.
//  3. A module whose section is enabled but whose [Needs] the channel does
//     not offer is switched off (Section.Disable); the daemon says so in one
//     log line per missing capability, naming every module it switched off.
//  4. New(section, env) builds the feature, without I/O. Every registered
//     module is built, enabled or not: a disabled feature still answers its
//     routes (with an error saying it is off) and reports its status.
//  5. Run(ctx) runs it until ctx ends; the daemon starts every feature once
//     the uplink listens, and returns nil from Run when ctx ends.
//
// Optional interfaces add to that: [Router] mounts local API routes (under
// /v1, with package localapi's paths and wire types), [Reporter] gives the
// section of GET /v1/status's "features", [LogSink] takes the daemon's log
// lines (log upload).
//
// The package links the standard library, core and bus only, so a feature
// that imports it links nothing it did not already.
package feature
