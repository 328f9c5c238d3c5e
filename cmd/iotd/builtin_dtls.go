//go:build !iotd_omit_dtls

package main

// The dtls driver (pulls in pion/dtls).
import _ "github.com/iotd/iotd/drivers/posix/dtls"
