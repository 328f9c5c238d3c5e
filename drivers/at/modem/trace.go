package modem

import (
	"log/slog"
	"strings"
	"sync"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
)

// The AT trace of a modem goes to two places: the log, when the config's
// "trace" is on, and the driver's listeners ([Driver.ATTrace], which
// `iotd at trace` reaches through the daemon). The engine traces only while
// one of them wants it, so a trace nobody reads costs nothing.

// traceHub fans the traces of a driver's modems out to its listeners. Its
// listeners outlive the modems: a modem opened later (after a port failed,
// or at the first dial) is traced as soon as it opens.
type traceHub struct {
	// retrace serialises subscribing with turning the modems' tracers on
	// and off, so that the last change wins.
	retrace sync.Mutex

	mu   sync.Mutex // guards the fields below
	next int
	subs map[int]traceSub
}

type traceSub struct {
	port string // "" for every port
	fn   func(driver.ATTraceEvent)
}

// add registers fn for port and returns its id.
func (h *traceHub) add(port string, fn func(driver.ATTraceEvent)) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[int]traceSub{}
	}
	h.next++
	h.subs[h.next] = traceSub{port: port, fn: fn}
	return h.next
}

func (h *traceHub) remove(id int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, id)
}

// wants reports whether anyone listens to port.
func (h *traceHub) wants(port string) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.subs {
		if s.port == "" || s.port == port {
			return true
		}
	}
	return false
}

// emit hands ev to the listeners of its port.
func (h *traceHub) emit(ev driver.ATTraceEvent) {
	h.mu.Lock()
	var fns []func(driver.ATTraceEvent)
	for _, s := range h.subs {
		if s.port == "" || s.port == ev.Port {
			fns = append(fns, s.fn)
		}
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

// tracer is one modem's end of the trace: it hides the configured secrets
// and sends each event to the log and the hub.
type tracer struct {
	port    string
	log     bool // the config's "trace"
	logger  *slog.Logger
	hub     *traceHub // nil for a modem outside a driver
	secrets []string
}

// minSecret is the shortest configured secret the trace looks for in the
// module's lines; a shorter one would hide innocent digits.
const minSecret = 4

func newTracer(cfg Config, log *slog.Logger, hub *traceHub) *tracer {
	t := &tracer{port: cfg.Port, log: cfg.Trace, logger: log, hub: hub}
	for _, s := range []string{cfg.PIN, cfg.Password, cfg.WiFiPassword} {
		if len(s) >= minSecret {
			t.secrets = append(t.secrets, s)
		}
	}
	return t
}

// wanted reports whether anyone wants the trace now.
func (t *tracer) wanted() bool { return t.log || t.hub.wants(t.port) }

// fn is the engine's tracer while wanted, else nil.
func (t *tracer) fn() func(at.TraceEvent) {
	if t.wanted() {
		return t.event
	}
	return nil
}

func (t *tracer) event(ev at.TraceEvent) {
	text := ev.Text
	if ev.Kind == at.TraceLine || ev.Kind == at.TraceCommand {
		// A module may read a secret back (AT+QICSGP=1 shows the APN
		// password on a BG96), and a command typed by hand is not marked
		// secret: the configured secrets never show, wherever they are.
		for _, s := range t.secrets {
			text = strings.ReplaceAll(text, s, "<hidden>")
		}
	}
	if t.log {
		t.logger.Info("at trace", "line", arrow(ev.Out)+" "+text)
	}
	if t.hub != nil {
		t.hub.emit(driver.ATTraceEvent{Time: ev.Time, Port: t.port, Out: ev.Out, Kind: string(ev.Kind), Text: text})
	}
}

func arrow(out bool) string {
	if out {
		return "→"
	}
	return "←"
}

// retrace turns the modem's tracer on or off as its tracer wants.
func (m *Modem) retrace() { m.eng.SetTracer(m.tr.fn()) }

// ATTrace calls fn with the trace of the driver's modem on port, or of
// every modem of the driver when port is "", until stop is called (see
// driver.ATTracer).
func (d *Driver) ATTrace(port string, fn func(driver.ATTraceEvent)) (stop func()) {
	h := &d.traces
	h.retrace.Lock()
	id := h.add(port, fn)
	d.retraceAll()
	h.retrace.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.retrace.Lock()
			h.remove(id)
			d.retraceAll()
			h.retrace.Unlock()
		})
	}
}

// retraceAll updates every open modem's tracer; d.traces.retrace is held.
func (d *Driver) retraceAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, sh := range d.modems {
		sh.m.retrace()
	}
}

var _ driver.ATTracer = (*Driver)(nil)
