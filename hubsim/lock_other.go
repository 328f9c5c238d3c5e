//go:build !unix && !windows

package hubsim

import "errors"

// ErrStateLocked is wrapped by the error for a state directory another
// hubsim is using. Without flock it is never returned.
var ErrStateLocked = errors.New("hubsim: state directory in use")

type stateLock struct{}

func lockState(string) (*stateLock, error) { return &stateLock{}, nil }

func (*stateLock) release() error { return nil }
