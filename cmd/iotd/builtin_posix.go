//go:build !iotd_omit_posix

package main

// The tcp, tls and udp drivers.
import _ "github.com/iotd/iotd/drivers/posix"
