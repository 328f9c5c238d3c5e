package at

import "github.com/iotd/iotd/core"

// init records the AT modem drivers in core.Default; it does no I/O.
func init() {
	for _, d := range Drivers() {
		core.MustRegister(d)
	}
}

// Register adds the AT modem drivers to r (for registries other than
// core.Default, e.g. in tests).
func Register(r *core.Registry) error {
	for _, d := range Drivers() {
		if err := r.Register(d); err != nil {
			return err
		}
	}
	return nil
}
