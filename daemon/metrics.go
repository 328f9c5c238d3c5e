package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/localapi"
)

// The optional metrics listener (metrics.listen): GET /metrics in the
// Prometheus text format, a view over each device's status taken at scrape
// time, plus the process and Go runtime metrics of VictoriaMetrics/metrics
// (chosen over prometheus/client_golang: +0.3 MB to a binary against
// +2.9 MB); GET /healthz, 200 "ok" or 503 with the reasons.

// MetricsConfig configures the metrics listener.
type MetricsConfig struct {
	// Listen is the TCP address to serve /metrics and /healthz on, e.g.
	// "127.0.0.1:9464"; empty (the default) serves nothing. The endpoints
	// need no credentials: bind to loopback or a management network.
	Listen string `yaml:"listen"`
}

func (m MetricsConfig) validate() *core.ConfigError {
	if m.Listen == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(m.Listen); err != nil || port == "" {
		return &core.ConfigError{Source: "config", Field: "metrics.listen",
			Msg: fmt.Sprintf("%q: want host:port, e.g. 127.0.0.1:9464 (9464 is the usual exporter port)", m.Listen)}
	}
	return nil
}

func init() { metrics.ExposeMetadata(true) }

// startMetrics listens on metrics.listen, when set, and serves until ctx
// ends; wait returns once it stopped. A port that cannot be opened is an
// error at start; the server's failure later is logged.
func (d *Daemon) startMetrics(ctx context.Context) (wait func(), err error) {
	if d.cfg.Metrics.Listen == "" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", d.cfg.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	d.log.Info("metrics listening", "address", l.Addr().String(), "paths", "/metrics /healthz")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.serveMetrics(ctx, l); err != nil {
			d.log.Error("metrics listener stopped", "err", err)
		}
	}()
	return func() { <-done }, nil
}

// serveMetrics serves /metrics and /healthz on l until ctx ends.
func (d *Daemon) serveMetrics(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		d.WriteMetrics(&b)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(b.Bytes())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		reasons := d.Unhealthy()
		if len(reasons) == 0 {
			_, _ = io.WriteString(w, "ok\n")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, strings.Join(reasons, "\n")+"\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// Unhealthy returns why the daemon is not healthy, one line per reason;
// none when every device's link is connected and no queue is full.
func (d *Daemon) Unhealthy() []string {
	var out []string
	for _, u := range d.units {
		st := u.Status()
		l := st.Link
		if l.State != localapi.LinkConnected {
			why := fmt.Sprintf("device %s: link %s", u.name, l.State)
			if !l.Since.IsZero() {
				why += " since " + l.Since.UTC().Format(time.RFC3339)
			}
			if l.Attempt > 0 {
				why += fmt.Sprintf(", attempt %d", l.Attempt)
			}
			if l.Err != "" {
				why += ": " + l.Err
			}
			out = append(out, why)
		}
		if q := st.Queue; q != nil {
			if full(q.Memory) {
				out = append(out, fmt.Sprintf("device %s: the memory queue is full (%d messages, %d bytes)", u.name, q.Memory.Messages, q.Memory.Bytes))
			}
			if q.Outbox != nil && full(*q.Outbox) {
				out = append(out, fmt.Sprintf("device %s: the outbox is full (%d messages, %d bytes)", u.name, q.Outbox.Messages, q.Outbox.Bytes))
			}
		}
	}
	return out
}

func full(b localapi.Bound) bool {
	return (b.MaxMessages > 0 && b.Messages >= b.MaxMessages) || (b.MaxBytes > 0 && b.Bytes >= b.MaxBytes)
}

// family is one metric: its samples, written under one HELP and TYPE.
type family struct {
	name, typ, help string
	samples         []sample
}

type sample struct {
	labels string // `device="a",result="refused"`, without braces
	value  float64
}

// metricSet collects families in the order they were first used.
type metricSet struct {
	order []string
	fams  map[string]*family
}

func (s *metricSet) add(name, typ, help, labels string, v float64) {
	f := s.fams[name]
	if f == nil {
		f = &family{name: name, typ: typ, help: help}
		s.fams[name] = f
		s.order = append(s.order, name)
	}
	f.samples = append(f.samples, sample{labels, v})
}

func (s *metricSet) gauge(name, help, labels string, v float64) {
	s.add(name, "gauge", help, labels, v)
}
func (s *metricSet) counter(name, help, labels string, v float64) {
	s.add(name, "counter", help, labels, v)
}

func (s *metricSet) write(w io.Writer) {
	for _, name := range s.order {
		f := s.fams[name]
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		for _, sm := range f.samples {
			if sm.labels == "" {
				fmt.Fprintf(w, "%s %s\n", f.name, formatValue(sm.value))
			} else {
				fmt.Fprintf(w, "%s{%s} %s\n", f.name, sm.labels, formatValue(sm.value))
			}
		}
	}
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// labelEscaper escapes a label value as the text format wants.
var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// label renders label pairs ("device", "a", "result", "refused"), values
// escaped as the text format wants.
func label(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		v := labelEscaper.Replace(kv[i+1])
		b.WriteString(kv[i] + `="` + v + `"`)
	}
	return b.String()
}

// linkStates are the link's states, for the one-hot iotd_link_state.
var linkStates = []string{localapi.LinkConnecting, localapi.LinkConnected, localapi.LinkDisconnected, localapi.LinkStopped}

// WriteMetrics writes every device's metrics and the process's in the
// Prometheus text format. Names follow its conventions: base units,
// _total for counters, one label "device" naming the daemon's device.
func (d *Daemon) WriteMetrics(w io.Writer) {
	s := &metricSet{fams: map[string]*family{}}
	s.gauge("iotd_build_info", "iotd's version; always 1.", label("version", Version), 1)
	for _, u := range d.units {
		st := u.Status()
		dev := label("device", u.name)
		up := 0.0
		if st.Link.State == localapi.LinkConnected {
			up = 1
		}
		s.gauge("iotd_link_up", "1 when the device's link (and its MQTT or CoAP session) is connected.", dev, up)
		for _, state := range linkStates {
			v := 0.0
			if st.Link.State == state {
				v = 1
			}
			s.gauge("iotd_link_state", "The link's state, one-hot.", label("device", u.name, "state", state), v)
		}
		s.gauge("iotd_link_attempt", "Failed connection attempts since the link was last up.", dev, float64(st.Link.Attempt))
		s.counter("iotd_mqtt_sessions_total", "MQTT sessions established: the first connection and every reconnection.", dev, float64(st.Sessions))
		if p := st.Published; p != nil {
			for _, r := range []struct {
				name string
				n    int64
			}{{"acknowledged", p.Acknowledged}, {"refused", p.Refused}, {"not_sent", p.NotSent}} {
				s.counter("iotd_publishes_total", "Publishes by final outcome: acknowledged, refused, not_sent.", label("device", u.name, "result", r.name), float64(r.n))
			}
		}
		s.gauge("iotd_inflight_messages", "Publishes handed to the hub and not yet confirmed.", dev, float64(st.Inflight))
		if q := st.Queue; q != nil {
			queues := []struct {
				name string
				b    *localapi.Bound
			}{{"memory", &q.Memory}, {"outbox", q.Outbox}}
			for _, qb := range queues {
				if qb.b == nil {
					continue
				}
				l := label("device", u.name, "queue", qb.name)
				s.gauge("iotd_queue_messages", "Messages held by the queue (memory) or the durable outbox.", l, float64(qb.b.Messages))
				s.gauge("iotd_queue_bytes", "Bytes held by the queue or the outbox.", l, float64(qb.b.Bytes))
				s.gauge("iotd_queue_max_messages", "The queue's bound in messages.", l, float64(qb.b.MaxMessages))
				s.gauge("iotd_queue_max_bytes", "The queue's bound in bytes.", l, float64(qb.b.MaxBytes))
			}
			s.gauge("iotd_dead_letters", "Messages parked as dead letters.", dev, float64(q.DeadLetters))
		}
		s.gauge("iotd_clock_offset_seconds", "Hub time minus local time, from the last time sync.", dev, st.ClockOffset.Seconds())
		d.featureMetrics(s, u.name, st.Features)
	}
	d.modemMetrics(s)
	s.write(w)
	metrics.WriteProcessMetrics(w)
}

// featureMetrics adds the features' counters.
func (d *Daemon) featureMetrics(s *metricSet, name string, f localapi.FeatureStats) {
	dev := label("device", name)
	if sh := f.Shadow; sh != nil {
		s.counter("iotd_shadow_requests_total", "Shadow requests sent to the hub.", dev, float64(sh.Requests))
		s.counter("iotd_shadow_rejected_total", "Shadow requests the hub rejected.", dev, float64(sh.Rejected))
		s.counter("iotd_shadow_timeouts_total", "Shadow requests without an answer in time.", dev, float64(sh.Timeouts))
		s.counter("iotd_shadow_conflicts_total", "Shadow updates refused for a stale version.", dev, float64(sh.Conflicts))
		s.counter("iotd_shadow_deltas_applied_total", "Desired-state changes applied.", dev, float64(sh.DeltasApplied))
	}
	if o := f.OTA; o != nil {
		s.counter("iotd_ota_updates_total", "Firmware updates started.", dev, float64(o.Updates))
		s.counter("iotd_ota_installs_total", "Firmware updates installed.", dev, float64(o.Installs))
		s.counter("iotd_ota_failures_total", "Firmware updates that failed.", dev, float64(o.Failures))
		s.gauge("iotd_ota_download_bytes", "Bytes of the current or last download.", dev, float64(o.Bytes))
		s.gauge("iotd_ota_info", "The firmware version and the update's state; always 1.", label("device", name, "version", o.Version, "state", o.State), 1)
	}
	if g := f.Gateway; g != nil {
		s.counter("iotd_gateway_requests_total", "Gateway operations (bind, unbind, online, offline) sent.", dev, float64(g.Requests))
		s.counter("iotd_gateway_rejected_total", "Gateway operations the hub rejected.", dev, float64(g.Rejected))
		s.counter("iotd_gateway_timeouts_total", "Gateway operations without an answer in time.", dev, float64(g.Timeouts))
		s.gauge("iotd_gateway_sub_devices_online", "Sub-devices online now.", dev, float64(g.Online))
	}
}

// modemMetrics adds the AT modems' signal and state, as last known (no
// command is sent for a scrape).
func (d *Daemon) modemMetrics(s *metricSet) {
	modems := modemsToWire(d.Modems(context.Background(), false))
	sort.Slice(modems, func(i, j int) bool { return modems[i].Driver+modems[i].Port < modems[j].Driver+modems[j].Port })
	for _, m := range modems {
		l := label("driver", m.Driver, "port", m.Port)
		up := 0.0
		if m.Up {
			up = 1
		}
		s.gauge("iotd_modem_up", "1 when the modem is brought up and ready for sockets.", l, up)
		if m.RSSI != 0 {
			s.gauge("iotd_modem_rssi_dbm", "The modem's received signal strength, in dBm.", l, float64(m.RSSI))
		}
		if m.RSRP != 0 {
			s.gauge("iotd_modem_rsrp_dbm", "LTE reference signal received power, in dBm.", l, float64(m.RSRP))
		}
		if m.RSRQ != 0 {
			s.gauge("iotd_modem_rsrq_db", "LTE reference signal received quality, in dB.", l, m.RSRQ)
		}
	}
}
