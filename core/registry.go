package core

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/iotd/iotd/core/driver"
)

// Registry holds drivers by name. Its zero value is not usable; call
// [NewRegistry]. A Registry is safe for concurrent use.
//
// Built-in drivers register in [Default] from their init functions through
// [MustRegister]; that records a name and a value and does nothing else.
// Tests build their own Registry.
type Registry struct {
	mu      sync.Mutex // guards drivers
	drivers map[string]driver.Driver
}

// Default is the registry that built-in drivers register into and that
// cmd/iotd uses.
var Default = NewRegistry()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{drivers: make(map[string]driver.Driver)}
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$`)

// ErrUnknownDriver is wrapped by errors for a name no driver is registered
// under.
var ErrUnknownDriver = errors.New("unknown driver")

// Register adds d under d.Name(). It rejects a nil driver, an invalid name
// (lowercase letters, digits, '-', '_', dot-separated), and a name already
// taken.
func (r *Registry) Register(d driver.Driver) error {
	if d == nil {
		return errors.New("core: register: nil driver")
	}
	name := d.Name()
	if !validName.MatchString(name) {
		return fmt.Errorf("core: register: invalid driver name %q: use lowercase letters, digits, '-', '_' and dots", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.drivers[name]; dup {
		return fmt.Errorf("core: register: driver %q registered twice", name)
	}
	r.drivers[name] = d
	return nil
}

// MustRegister registers d in [Default] and panics on error. It is meant for
// the init functions of built-in driver packages.
func MustRegister(d driver.Driver) {
	if err := Default.Register(d); err != nil {
		panic(err)
	}
}

// Driver returns the driver registered under name. For an unknown name the
// error wraps [ErrUnknownDriver] and lists the names that exist.
func (r *Registry) Driver(name string) (driver.Driver, error) {
	r.mu.Lock()
	d, ok := r.drivers[name]
	r.mu.Unlock()
	if !ok {
		names := r.Names()
		if len(names) == 0 {
			return nil, fmt.Errorf("core: %w %q: no drivers are registered", ErrUnknownDriver, name)
		}
		return nil, fmt.Errorf("core: %w %q (registered: %s)", ErrUnknownDriver, name, strings.Join(names, ", "))
	}
	return d, nil
}

// Names returns the registered driver names, sorted.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.drivers))
	for n := range r.drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ProbeState is the outcome of probing one driver.
type ProbeState string

const (
	// Loaded means Probe returned nil: the driver is usable.
	Loaded ProbeState = "loaded"
	// Skipped means Probe returned an error wrapping driver.ErrSkip.
	Skipped ProbeState = "skipped"
	// Failed means Probe returned any other error.
	Failed ProbeState = "failed"
)

// ProbeResult describes one driver after probing.
type ProbeResult struct {
	Name       string             `json:"name"`
	Transports []driver.Transport `json:"transports"`
	Version    string             `json:"version,omitempty"`
	State      ProbeState         `json:"state"`
	// Err is the probe's error text for Skipped and Failed.
	Err      string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Probe probes every registered driver, one after another in name order,
// each bounded by perDriver (no bound when zero), and reports each outcome.
func (r *Registry) Probe(ctx context.Context, perDriver time.Duration) []ProbeResult {
	var out []ProbeResult
	for _, name := range r.Names() {
		d, err := r.Driver(name)
		if err != nil {
			continue
		}
		res := ProbeResult{Name: name, Transports: slices.Clone(d.Transports())}
		if v, err := driver.Lookup[driver.Versioner](d); err == nil {
			res.Version = v.Version()
		}
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if perDriver > 0 {
			pctx, cancel = context.WithTimeout(ctx, perDriver)
		}
		start := time.Now()
		err = d.Probe(pctx)
		cancel()
		res.Duration = time.Since(start)
		switch {
		case err == nil:
			res.State = Loaded
		case errors.Is(err, driver.ErrSkip):
			res.State, res.Err = Skipped, err.Error()
		default:
			res.State, res.Err = Failed, err.Error()
		}
		out = append(out, res)
	}
	return out
}
