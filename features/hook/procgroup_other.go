//go:build !unix

package hook

import "os/exec"

// setProcessGroup leaves the default: only the command itself is killed.
func setProcessGroup(*exec.Cmd) {}
