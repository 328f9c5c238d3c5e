//go:build unix

package main

import (
	"os"
	"syscall"

	"github.com/iotd/iotd/drivers/at/atsim"
)

// faultSignals inject faults into a running atsim: SIGUSR1 a reboot,
// SIGUSR2 a bearer loss.
var faultSignals = []os.Signal{syscall.SIGUSR1, syscall.SIGUSR2}

// faultFor is the fault signal s injects.
func faultFor(s os.Signal) atsim.FaultKind {
	if s == syscall.SIGUSR2 {
		return atsim.BearerLoss
	}
	return atsim.Reboot
}
