//go:build !iotd_omit_timesync

package main

// The timesync feature (features.timesync in iotd.yaml); it registers itself with
// package feature, and the daemon runs it without importing it.
import _ "github.com/iotd/iotd/features/timesync"
