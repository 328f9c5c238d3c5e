package atsim

// ConformanceHook lets the conformance suite disturb a simulated modem:
// it has the methods of conformance.Modem (the M cases), so a harness sets
// Modem: atsim.ConformanceHook{Sim: sim}. atsim does not import the suite.
type ConformanceHook struct{ Sim *Modem }

// Reboot power-cycles the module: its sockets are gone and it prints its
// boot banner again.
func (h ConformanceHook) Reboot() error { h.Sim.Reboot(); return nil }

// Garbage switches the Garbage fault on (a line of 1..16 random bytes after
// every final result): atsim has no one-shot write of n bytes, so the noise
// goes on from then on, which is harder, not easier.
func (h ConformanceHook) Garbage(int) error { return h.Sim.Inject(Fault{Kind: Garbage}) }

// Fragment makes the module write its output in 1–8-byte pieces while on.
func (h ConformanceHook) Fragment(on bool) {
	if on {
		_ = h.Sim.Inject(Fault{Kind: Fragment})
		return
	}
	h.Sim.Clear(Fragment)
}
