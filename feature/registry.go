package feature

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// registry is a set of modules by name. The package has one, std, which
// Register fills from the features' init functions; the package's tests
// swap in a fresh one (useRegistry) so that their throwaway modules reach
// no other test.
type registry struct {
	mu      sync.Mutex
	modules map[string]Module
}

var std = &registry{modules: map[string]Module{}}

var validName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Register records a module; call it from the feature package's init. It
// does no I/O. It panics on a module without a name, Config or New, or
// whose name is taken: both are programming errors found at start.
func Register(m Module) { std.register(m) }

// Modules returns the registered modules, sorted by name.
func Modules() []Module { return std.list() }

// Lookup returns the module registered as name.
func Lookup(name string) (Module, bool) { return std.lookup(name) }

func (r *registry) register(m Module) {
	if !validName.MatchString(m.Name) || m.Config == nil || m.New == nil {
		panic(fmt.Sprintf("feature: Register(%q): a module needs a lowercase name, Config and New", m.Name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.modules[m.Name]; dup {
		panic("feature: Register called twice for " + m.Name)
	}
	r.modules[m.Name] = m
}

func (r *registry) list() []Module {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Module, 0, len(r.modules))
	for _, m := range r.modules {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Module) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (r *registry) lookup(name string) (Module, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.modules[name]
	return m, ok
}

// Unmet returns, for each capability caps lacks, the enabled modules of
// secs (by name) that need it, and switches those off. The daemon logs one
// line per capability from it.
func Unmet(mods []Module, secs map[string]Section, caps Caps) map[string][]string {
	out := map[string][]string{}
	for _, m := range mods {
		sec := secs[m.Name]
		if sec == nil || !sec.Enabled() {
			continue
		}
		miss := m.Needs.missing(caps)
		for _, need := range miss {
			out[need] = append(out[need], m.Name)
		}
		if len(miss) > 0 {
			sec.Disable()
		}
	}
	return out
}
