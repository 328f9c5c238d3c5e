//go:build !iotd_omit_gateway

package main

// The gateway feature (features.gateway in iotd.yaml); it registers itself with
// package feature, and the daemon runs it without importing it.
import _ "github.com/iotd/iotd/features/gateway"
