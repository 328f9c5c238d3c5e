//go:build !iotd_omit_broadcast

package main

// The broadcast feature (features.broadcast in iotd.yaml); it registers itself with
// package feature, and the daemon runs it without importing it.
import _ "github.com/iotd/iotd/features/broadcast"
