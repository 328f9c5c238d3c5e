package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

// Summary is the fleet's figures (the final report, --json).
type Summary struct {
	Devices   int     `json:"devices"`
	TLS       bool    `json:"tls"`
	SharedTLS bool    `json:"shared_tls"`
	JitterMS  float64 `json:"jitter_ms"`
	// Elapsed is from Start to the summary.
	ElapsedMS float64 `json:"elapsed_ms"`

	// Connected counts the devices connected at the summary, EverConnected
	// those that connected at least once.
	Connected     int `json:"connected"`
	EverConnected int `json:"ever_connected"`
	// Connect is each device's time from its start (after its jitter) to
	// its first session; AllConnected from Start to the last device's
	// first session (0: not all connected).
	Connect        Quantiles `json:"connect"`
	AllConnectedMS float64   `json:"all_connected_ms"`

	// Publishes acknowledged (QoS 1: PUBACKed) and their latency from the
	// Publish call to its answer.
	RatePerDevice float64 `json:"rate_per_device"`
	Published     int64   `json:"published"`
	PublishRate   float64 `json:"publish_rate"` // acknowledged per second since Start
	// SteadyRate is acknowledged per second since the fleet was all
	// connected (MarkSteady): what the fleet holds.
	SteadyRate float64   `json:"steady_publish_rate"`
	Latency    Quantiles `json:"publish_latency"`

	ShadowReports int64 `json:"shadow_reports"`
	ShadowDeltas  int64 `json:"shadow_deltas"`

	OTAPushed int       `json:"ota_pushed"`
	OTADone   int64     `json:"ota_done"`
	OTATime   Quantiles `json:"ota_time"` // from the push to the install, per device

	Storms []Storm `json:"reconnect_storms"`

	// Memory at the summary, per device: the Go heap in use and the
	// process's resident set divided by Devices; PeakRSS is the process's.
	HeapPerDeviceKB float64 `json:"heap_per_device_kb"`
	RSSPerDeviceKB  float64 `json:"rss_per_device_kb"`
	// StackPerDeviceKB is the goroutine stacks' share (not in the heap).
	StackPerDeviceKB float64 `json:"stack_per_device_kb"`
	RSSMB            float64 `json:"rss_mb"`
	PeakRSSMB        float64 `json:"peak_rss_mb"`
	Goroutines       int     `json:"goroutines"`

	// NeverConnected names (up to 10) devices that never connected, with
	// their last error.
	NeverConnected []string `json:"never_connected,omitempty"`

	Errors      map[string]int64 `json:"errors"`
	ErrorsTotal int64            `json:"errors_total"`
}

// Summary returns the figures now.
func (f *Fleet) Summary(otaPushed int) Summary {
	n := len(f.devs)
	mem := readMemory()
	heap, rss, peak := mem.heap, mem.rss, mem.peak
	storms, up := f.storm.snapshot()
	s := Summary{
		Devices: n, TLS: f.opt.TLS, SharedTLS: f.opt.SharedTLS && f.opt.TLS, JitterMS: ms(f.opt.Jitter),
		ElapsedMS: ms(time.Since(f.started)), Connected: up, EverConnected: int(f.everUp.Load()),
		Connect: f.connectTime.quantiles(), RatePerDevice: f.opt.Rate,
		Published: f.pubOK.Load(), Latency: f.pubLatency.quantiles(),
		ShadowReports: f.shadowOK.Load(), ShadowDeltas: f.deltas.Load(),
		OTAPushed: otaPushed, OTADone: f.otaDone.Load(), OTATime: f.otaTime.quantiles(),
		Storms: storms, Goroutines: runtime.NumGoroutine(),
		RSSMB: float64(rss) / (1 << 20), PeakRSSMB: float64(peak) / (1 << 20),
		Errors: f.errs.snapshot(), NeverConnected: f.neverConnected(10),
	}
	if s.Storms == nil {
		s.Storms = []Storm{}
	}
	if at := f.allUpAt.Load(); at != 0 {
		s.AllConnectedMS = ms(time.Unix(0, at).Sub(f.started))
	}
	if n > 0 {
		s.HeapPerDeviceKB = float64(heap) / float64(n) / 1024
		s.RSSPerDeviceKB = float64(rss) / float64(n) / 1024
		s.StackPerDeviceKB = float64(mem.stack) / float64(n) / 1024
	}
	// The rate over the time devices published: from the first start to now.
	if secs := time.Since(f.started).Seconds(); secs > 0 {
		s.PublishRate = float64(s.Published) / secs
	}
	if at := f.steadyAt.Load(); at != 0 {
		if secs := time.Since(time.Unix(0, at)).Seconds(); secs > 0 {
			s.SteadyRate = float64(s.Published-f.steadyPub.Load()) / secs
		}
	}
	for _, v := range s.Errors {
		s.ErrorsTotal += v
	}
	return s
}

// writeText prints the summary for a person.
func (s Summary) writeText(w io.Writer) {
	link := "tcp"
	if s.TLS {
		link = "tls"
		if s.SharedTLS {
			link += " (one shared TLS config)"
		}
	}
	fmt.Fprintf(w, "fleet: %d devices over %s, jitter %s, %.3g msg/s each, %.1fs\n", s.Devices, link, dur(s.JitterMS), s.RatePerDevice, s.ElapsedMS/1000)
	fmt.Fprintf(w, "  connect:    %d/%d ever connected, %d now; per device p50 %s p99 %s max %s; all connected after %s\n",
		s.EverConnected, s.Devices, s.Connected, dur(s.Connect.P50), dur(s.Connect.P99), dur(s.Connect.Max), durOrNever(s.AllConnectedMS))
	fmt.Fprintf(w, "  publish:    %d acknowledged, %.1f msg/s since all connected (target %.0f); latency p50 %s p99 %s max %s\n",
		s.Published, s.SteadyRate, s.RatePerDevice*float64(s.Devices), dur(s.Latency.P50), dur(s.Latency.P99), dur(s.Latency.Max))
	if s.ShadowReports > 0 || s.ShadowDeltas > 0 {
		fmt.Fprintf(w, "  shadow:     %d reported, %d deltas applied\n", s.ShadowReports, s.ShadowDeltas)
	}
	if s.OTAPushed > 0 {
		fmt.Fprintf(w, "  ota:        %d pushed, %d installed; push to install p50 %s p99 %s max %s\n",
			s.OTAPushed, s.OTADone, dur(s.OTATime.P50), dur(s.OTATime.P99), dur(s.OTATime.Max))
	}
	for _, st := range s.Storms {
		fmt.Fprintf(w, "  reconnect:  %d of %d down from %s; 99%% back after %s, all after %s\n",
			st.Down, st.Peak, st.Start.Format("15:04:05.000"), durOrNever(st.To99MS), durOrNever(st.To100MS))
	}
	fmt.Fprintf(w, "  memory:     heap in use %.1f KiB/device, stacks %.1f KiB/device, RSS %.1f KiB/device (%.0f MiB, peak %.0f MiB), %d goroutines (%.1f/device)\n",
		s.HeapPerDeviceKB, s.StackPerDeviceKB, s.RSSPerDeviceKB, s.RSSMB, s.PeakRSSMB, s.Goroutines, float64(s.Goroutines)/float64(max(s.Devices, 1)))
	for _, nc := range s.NeverConnected {
		fmt.Fprintf(w, "  never connected: %s\n", nc)
	}
	fmt.Fprintf(w, "  errors:     %d\n", s.ErrorsTotal)
	kinds := make([]string, 0, len(s.Errors))
	for k := range s.Errors {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return s.Errors[kinds[i]] > s.Errors[kinds[j]] })
	for _, k := range kinds {
		fmt.Fprintf(w, "    %8d  %s\n", s.Errors[k], k)
	}
}

// progress is one line of the figures since the last one.
type progress struct {
	last      time.Time
	published int64
}

func (f *Fleet) progressLine(p *progress) string {
	now := time.Now()
	pub := f.pubOK.Load()
	h := f.interval.Swap(&histogram{})
	rate := 0.0
	if !p.last.IsZero() {
		rate = float64(pub-p.published) / now.Sub(p.last).Seconds()
	}
	p.last, p.published = now, pub
	_, rss, _ := memory()
	storms, up := f.storm.snapshot()
	var parts []string
	parts = append(parts, fmt.Sprintf("%6.1fs", now.Sub(f.started).Seconds()),
		fmt.Sprintf("connected %d/%d (ever %d)", up, len(f.devs), f.everUp.Load()),
		fmt.Sprintf("%.0f msg/s p50 %s p99 %s", rate, dur(ms(h.quantile(0.5))), dur(ms(h.quantile(0.99)))),
		fmt.Sprintf("rss %.0f MiB", float64(rss)/(1<<20)),
		fmt.Sprintf("errors %d", f.errs.total()))
	if n := f.otaDone.Load(); n > 0 {
		parts = append(parts, fmt.Sprintf("ota %d", n))
	}
	if len(storms) > 0 && slices.ContainsFunc(storms, func(s Storm) bool { return s.To100MS == 0 }) {
		parts = append(parts, "reconnecting")
	}
	return strings.Join(parts, "  ")
}

func dur(msv float64) string {
	d := time.Duration(msv * float64(time.Millisecond))
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func durOrNever(msv float64) string {
	if msv == 0 {
		return "(not reached)"
	}
	return dur(msv)
}
