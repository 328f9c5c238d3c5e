package hubsim

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/iotd/iotd/internal/pki"
)

// State is an opened state directory: the CA, the broker certificate and
// the registry, locked against other hubsim processes. The CLI uses it to
// create devices while no hub runs; a Hub holds one while it runs.
type State struct {
	Dir    string
	Store  *Store
	CA     *pki.Pair
	Server *pki.Pair
	lock   *stateLock
}

// OpenState opens (creating on first use) the state directory dir. It
// fails with ErrStateLocked when another hubsim holds it. now may be nil.
func OpenState(dir string, now func() time.Time) (*State, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("hubsim: state dir: %w", err)
	}
	lock, err := lockState(dir)
	if err != nil {
		return nil, err
	}
	st := &State{Dir: dir, lock: lock}
	if st.CA, err = loadOrCreateCA(dir); err != nil {
		st.Close()
		return nil, err
	}
	if st.Server, err = loadOrCreateServerCert(dir, st.CA); err != nil {
		st.Close()
		return nil, err
	}
	if st.Store, err = OpenStore(filepath.Join(dir, registryName), st.CA, now); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// CAFile is the path of the CA certificate.
func (s *State) CAFile() string { return filepath.Join(s.Dir, caCertName) }

// Close releases the lock.
func (s *State) Close() error { return s.lock.release() }
