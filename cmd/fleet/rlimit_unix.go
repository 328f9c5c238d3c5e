//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseNoFile makes sure the process may open want files: it raises the
// soft RLIMIT_NOFILE to want, or to the hard limit when want is above it
// (Go raises the soft limit to the hard one at start on Linux already, so
// this is for other systems and for saying early what does not fit). It
// returns the limit in force.
func raiseNoFile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < want {
		return lim.Cur, fmt.Errorf("RLIMIT_NOFILE: the fleet needs about %d open files and the hard limit is %d; raise it (ulimit -Hn, LimitNOFILE=) or run fewer devices", want, lim.Max)
	}
	return lim.Cur, nil
}
