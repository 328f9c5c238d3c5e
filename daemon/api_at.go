package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// The AT modems, for field debugging (GET /v1/at/modems, GET /v1/at/trace,
// POST /v1/at/send). The daemon reaches them through the optional
// capabilities of core/driver (ModemInspector, ATCommander, ATTracer),
// never through the modem package, so a build without the AT drivers
// (-tags iotd_omit_at) serves these paths and answers that there is no
// modem.
//
// A trace turns tracing on while it streams and off when the last stream
// ends (unless the driver config's "trace" keeps it on for the log).

// maxATSendTimeout bounds a command's timeout: AT+COPS=? scans for minutes,
// nothing needs longer.
const maxATSendTimeout = 10 * time.Minute

// statusModemWait bounds how long `iotd status` waits for the modems'
// answers; a modem that is slower shows its last values.
const statusModemWait = 2 * time.Second

func (s *apiServer) atRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+localapi.PathATModems, s.atModems)
	mux.HandleFunc("GET "+localapi.PathATTrace, s.atTrace)
	mux.HandleFunc("POST "+localapi.PathATSend, s.atSend)
}

// modemsToWire maps the modems' state to the wire's; never nil.
func modemsToWire(ms []driver.ModemStatus) []localapi.ModemStatus {
	out := make([]localapi.ModemStatus, len(ms))
	for i, m := range ms {
		out[i] = localapi.ModemStatus(m)
	}
	return out
}

// capable returns the registered drivers that offer capability T, in name
// order, with their names.
func capable[T any](reg *core.Registry) (names []string, caps []T) {
	for _, name := range reg.Names() {
		d, err := reg.Driver(name)
		if err != nil {
			continue
		}
		if c, err := driver.Lookup[T](d); err == nil {
			names, caps = append(names, name), append(caps, c)
		}
	}
	return names, caps
}

// Modems reports the modems the drivers have open; with refresh they are
// asked first (at most every 30 s each), waiting at most until ctx ends.
func (d *Daemon) Modems(ctx context.Context, refresh bool) []driver.ModemStatus {
	return modems(ctx, d.reg, refresh)
}

// modems is Daemon.Modems of the drivers of reg, which the devices share.
func modems(ctx context.Context, reg *core.Registry, refresh bool) []driver.ModemStatus {
	_, insp := capable[driver.ModemInspector](reg)
	out := []driver.ModemStatus{}
	for _, in := range insp {
		out = append(out, in.Modems(ctx, refresh)...)
	}
	return out
}

func (s *apiServer) atModems(w http.ResponseWriter, r *http.Request) {
	feature.WriteJSON(w, http.StatusOK, modemsToWire(s.d.Modems(r.Context(), r.URL.Query().Get("refresh") != "")))
}

// errNoATDriver answers when no driver of this iotd knows AT modems.
var errNoATDriver = errors.New("at: this iotd has no AT modem driver (built with -tags iotd_omit_at?)")

// noModemOpen explains why no modem is open.
const noModemOpen = "no AT modem is open: the daemon opens its modem at the first connection through an at.* driver (link.driver, or over: in its driver_config)"

// openPorts lists the ports of the open modems.
func openPorts(ms []driver.ModemStatus) []string {
	var ports []string
	for _, m := range ms {
		ports = append(ports, m.Port)
	}
	slices.Sort(ports)
	return ports
}

func (s *apiServer) atSend(w http.ResponseWriter, r *http.Request) {
	var req localapi.ATSendRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		feature.WriteError(w, http.StatusBadRequest, fmt.Errorf("at send: bad request body: %w", err))
		return
	}
	if req.Timeout < 0 || req.Timeout > maxATSendTimeout {
		feature.WriteError(w, http.StatusBadRequest, fmt.Errorf("at send: timeout %v: give one between 0 (the driver's) and %v", req.Timeout, maxATSendTimeout))
		return
	}
	names, cmds := capable[driver.ATCommander](s.d.reg)
	if len(cmds) == 0 {
		feature.WriteError(w, http.StatusNotFound, errNoATDriver)
		return
	}
	// Which driver has the modem: the inspector of the same driver says.
	var ms []driver.ModemStatus
	owner := map[string]int{}
	for i, name := range names {
		d, _ := s.d.reg.Driver(name)
		in, err := driver.Lookup[driver.ModemInspector](d)
		if err != nil {
			continue
		}
		for _, m := range in.Modems(r.Context(), false) {
			ms = append(ms, m)
			owner[m.Port] = i
		}
	}
	ports := openPorts(ms)
	port := req.Port
	switch {
	case len(ports) == 0:
		feature.WriteError(w, http.StatusNotFound, errors.New("at send: "+noModemOpen))
		return
	case port == "" && len(ports) > 1:
		feature.WriteError(w, http.StatusBadRequest, fmt.Errorf("at send: %d modems are open (%s): name one with --port", len(ports), strings.Join(ports, ", ")))
		return
	case port == "":
		port = ports[0]
	}
	i, ok := owner[port]
	if !ok {
		feature.WriteError(w, http.StatusNotFound, fmt.Errorf("at send: no modem open on %s (open: %s)", port, strings.Join(ports, ", ")))
		return
	}
	rep, err := cmds[i].ATCommand(r.Context(), port, req.Command, req.Timeout)
	res := localapi.ATSendResult{Port: rep.Port, Lines: rep.Lines, Final: rep.Final, Driver: names[i]}
	if res.Lines == nil {
		res.Lines = []string{}
	}
	if err != nil {
		res.Error = err.Error()
	}
	feature.WriteJSON(w, http.StatusOK, res)
}

// traceBuffer is how many events a trace stream holds for a slow reader
// before it drops them (and says how many).
const traceBuffer = 1024

func (s *apiServer) atTrace(w http.ResponseWriter, r *http.Request) {
	port := r.URL.Query().Get("port")
	_, tracers := capable[driver.ATTracer](s.d.reg)
	if len(tracers) == 0 {
		feature.WriteError(w, http.StatusNotFound, errNoATDriver)
		return
	}
	if port != "" {
		// A port no modem is open on is likely a typo, unless none is
		// open yet (then the trace waits for it).
		if ports := openPorts(s.d.Modems(r.Context(), false)); len(ports) > 0 && !slices.Contains(ports, port) {
			feature.WriteError(w, http.StatusNotFound, fmt.Errorf("at trace: no modem open on %s (open: %s)", port, strings.Join(ports, ", ")))
			return
		}
	}
	st := newTraceStream()
	for _, t := range tracers {
		defer t.ATTrace(port, st.add)()
	}
	go func() {
		<-r.Context().Done()
		st.close()
	}()
	feature.StreamJSON(w, st.ch, func(e driver.ATTraceEvent) any { return localapi.ATTraceEvent(e) })
}

// traceStream buffers trace events for one client; a full buffer drops
// events and counts them, and the count goes out as a "dropped" event
// once there is room.
type traceStream struct {
	mu      sync.Mutex
	ch      chan driver.ATTraceEvent
	dropped int
	closed  bool
}

func newTraceStream() *traceStream {
	return &traceStream{ch: make(chan driver.ATTraceEvent, traceBuffer)}
}

// add runs on the modem's goroutines: it never blocks.
func (t *traceStream) add(e driver.ATTraceEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if t.dropped > 0 {
		note := driver.ATTraceEvent{Time: e.Time, Port: e.Port, Kind: localapi.TraceDropped,
			Text: fmt.Sprintf("%d events dropped: the client reads too slowly", t.dropped)}
		select {
		case t.ch <- note:
			t.dropped = 0
		default:
			t.dropped++
			return
		}
	}
	select {
	case t.ch <- e:
	default:
		t.dropped++
	}
}

func (t *traceStream) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.ch)
	}
}

// lendLogger gives the drivers that log the daemon's logger, so that a
// modem's bring-up, reboots and its AT trace ("trace": true) join the
// daemon's log.
func (d *Daemon) lendLogger() {
	_, rs := capable[driver.LogReceiver](d.reg)
	for _, r := range rs {
		r.SetLogger(d.log)
	}
}
