//go:build unix || windows

package hubsim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrStateLocked is wrapped by the error for a state directory another
// hubsim is using.
var ErrStateLocked = errors.New("hubsim: state directory in use")

// errBusy is what tryLock returns when another process holds the lock.
var errBusy = errors.New("locked by another process")

// stateLock is an exclusive lock on the state directory's lock file, so
// two processes never write the registry at once: flock on Unix
// (lock_unix.go), LockFileEx on Windows (lock_windows.go). The system drops
// it when the process dies.
type stateLock struct{ f *os.File }

func lockState(dir string) (*stateLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("hubsim: lock state dir: %w", err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		if errors.Is(err, errBusy) {
			return nil, fmt.Errorf("%w: %s is used by a running hubsim; stop it, use another --state, or talk to it through --admin",
				ErrStateLocked, dir)
		}
		return nil, fmt.Errorf("hubsim: lock state dir: %w", err)
	}
	return &stateLock{f: f}, nil
}

func (l *stateLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the file drops the lock
	l.f = nil
	return err
}
