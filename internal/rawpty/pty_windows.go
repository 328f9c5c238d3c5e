//go:build windows

package rawpty

import (
	"fmt"
	"os"
)

// Open fails: Windows has no pseudo-terminals a serial port API opens
// (ConPTY is a console, not a COM port).
func Open() (master, slave *os.File, path string, err error) {
	return nil, nil, "", fmt.Errorf("rawpty: %w", ErrNoPTY)
}
