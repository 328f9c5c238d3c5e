//go:build unix

package hook

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts the command in a process group of its own and makes
// cancellation kill the whole group, so the children of a script die with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// A negative pid signals the group whose id is the leader's pid.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
