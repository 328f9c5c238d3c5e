package plugins

import (
	"os/exec"
	"syscall"
)

// setPdeathsig asks the kernel to SIGKILL the plugin when the host dies,
// even if the host itself is SIGKILLed. (Linux ties this to the thread that
// started the child; the SDK's parent watch covers the rest.)
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
