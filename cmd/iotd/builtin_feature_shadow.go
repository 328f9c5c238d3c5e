//go:build !iotd_omit_shadow

package main

// The shadow feature (features.shadow in iotd.yaml); it registers itself with
// package feature, and the daemon runs it without importing it.
import _ "github.com/iotd/iotd/features/shadow"
