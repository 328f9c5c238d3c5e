//go:build !iotd_omit_logupload

package main

// The logupload feature (features.logupload in iotd.yaml); it registers itself with
// package feature, and the daemon runs it without importing it.
import _ "github.com/iotd/iotd/features/logupload"
