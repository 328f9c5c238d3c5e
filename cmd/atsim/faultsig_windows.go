//go:build windows

package main

import (
	"os"

	"github.com/iotd/iotd/drivers/at/atsim"
)

// faultSignals: Windows has no SIGUSR1/SIGUSR2 (atsim does not run there
// anyway: it needs a pseudo-terminal).
var faultSignals []os.Signal

func faultFor(os.Signal) atsim.FaultKind { return atsim.Reboot }
