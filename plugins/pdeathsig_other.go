//go:build !linux

package plugins

import (
	"os/exec"
)

// setPdeathsig does nothing where there is no Pdeathsig; the SDK's parent
// watch makes an orphaned plugin exit.
func setPdeathsig(*exec.Cmd) {}
