//go:build !iotd_omit_ota

package main

// The ota and sub_device_ota features (features.ota and
// features.sub_device_ota in iotd.yaml); they register themselves with
// package feature, and the daemon runs them without importing it.
import _ "github.com/iotd/iotd/features/ota"
