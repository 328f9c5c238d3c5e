package modem

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/at"
)

// Auto is the dialect name of the "at" driver, which detects the dialect
// from the modem's identification.
const Auto = "auto"

// dialects holds the registered dialects' constructors by name.
var dialects = struct {
	sync.RWMutex
	m map[string]func() Dialect
}{m: map[string]func() Dialect{}}

// init records the "at" driver (the dialect detected) in core.Default; the
// dialects' packages record theirs when they register. No I/O.
func init() {
	core.MustRegister(&Driver{dialect: Auto, modems: map[string]*shared{}})
}

// Register makes a dialect known: the "at" driver may detect it, and the
// driver "at.<name>" is recorded in core.Default. newDialect is called
// once here, for the dialect's Traits, and once for every Modem. A
// dialect's package calls it from init, so that one import adds the
// module to a program:
//
//	func init() { modem.MustRegister(func() modem.Dialect { return &sim800{} }) }
func Register(newDialect func() Dialect) error {
	t := newDialect().Traits()
	if err := t.validate(); err != nil {
		return err
	}
	dialects.Lock()
	if _, dup := dialects.m[t.Name]; dup {
		dialects.Unlock()
		return fmt.Errorf("at: dialect %q registered twice", t.Name)
	}
	dialects.m[t.Name] = newDialect
	dialects.Unlock()
	d, err := NewDriver(t.Name)
	if err != nil {
		return err
	}
	return core.Default.Register(d)
}

// MustRegister is [Register] that panics on error, for init functions.
func MustRegister(newDialect func() Dialect) {
	if err := Register(newDialect); err != nil {
		panic(err)
	}
}

// Dialects lists the registered dialects' names, sorted, without Auto.
func Dialects() []string {
	dialects.RLock()
	defer dialects.RUnlock()
	var names []string
	for n := range dialects.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// newDialect returns a new instance of the named dialect.
func newDialect(name string) (Dialect, error) {
	dialects.RLock()
	nd, ok := dialects.m[name]
	dialects.RUnlock()
	if !ok {
		return nil, fmt.Errorf("at: unknown dialect %q: use one of %v or %q (a dialect's package must be imported to register it)", name, Dialects(), Auto)
	}
	return nd(), nil
}

// validate reports traits the modem cannot work with.
func (t Traits) validate() error {
	bad := func(msg string) error { return fmt.Errorf("at: dialect %q: %s", t.Name, msg) }
	switch {
	case t.Name == "" || t.Name == Auto || strings.ToLower(t.Name) != t.Name || strings.ContainsAny(t.Name, ". /"):
		return bad("the name must be a lower-case word other than \"auto\"")
	case t.Limits.Sockets < 1:
		return bad("Limits.Sockets must be at least 1")
	case t.Limits.MaxSend < 1 || t.Limits.MaxRead < 1:
		return bad("Limits.MaxSend and Limits.MaxRead must be at least 1")
	case t.Limits.MaxRead > at.MaxRaw:
		return bad(fmt.Sprintf("Limits.MaxRead is beyond the engine's raw read limit (%d)", at.MaxRaw))
	}
	for _, w := range t.Identify {
		if w == "" || strings.ToLower(w) != w {
			return bad("Identify words must be non-empty and lower case")
		}
	}
	return nil
}

// Drivers returns a new driver for every registered dialect and one for
// Auto, for registries other than core.Default.
func Drivers() []*Driver {
	var ds []*Driver
	for _, n := range append(Dialects(), Auto) {
		d, _ := NewDriver(n)
		ds = append(ds, d)
	}
	return ds
}

// RegisterDrivers adds the drivers of [Drivers] to r (e.g. in tests).
func RegisterDrivers(r *core.Registry) error {
	var errs []error
	for _, d := range Drivers() {
		errs = append(errs, r.Register(d))
	}
	return errors.Join(errs...)
}

// identifyDialect maps identification text to the dialect whose longest
// Identify word it contains, "" when none.
func identifyDialect(id string) string {
	l := strings.ToLower(id)
	best, bestLen := "", 0
	dialects.RLock()
	defer dialects.RUnlock()
	for _, name := range slices.Sorted(maps.Keys(dialects.m)) {
		for _, w := range dialects.m[name]().Traits().Identify {
			if len(w) > bestLen && strings.Contains(l, w) {
				best, bestLen = name, len(w)
			}
		}
	}
	return best
}
