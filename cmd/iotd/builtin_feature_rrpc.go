//go:build !iotd_omit_rrpc

package main

// The rrpc feature (features.rrpc in iotd.yaml); it registers itself with
// package feature, and the daemon runs it without importing it.
import _ "github.com/iotd/iotd/features/rrpc"
