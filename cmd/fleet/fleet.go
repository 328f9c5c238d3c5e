package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
	"github.com/iotd/iotd/device"
	"github.com/iotd/iotd/feature"
	_ "github.com/iotd/iotd/features/ota"    // firmware updates pushed to the fleet
	_ "github.com/iotd/iotd/features/shadow" // -shadow
	"github.com/iotd/iotd/hubsim"
)

// Options shape a fleet.
type Options struct {
	// Devices is the number of devices to create in hubsim (Product,
	// Prefix); ignored when InfoFiles is set.
	Devices int
	Product string
	Prefix  string
	// InfoFiles are device_info.json files to run instead.
	InfoFiles []string
	// Dir holds each device's device_info.json and state_dir.
	Dir string

	// Endpoint is host:port of the hub's MQTT listener; TLS says whether
	// it is the TLS one. CAPEM is the hub's CA.
	Endpoint string
	TLS      bool
	CAPEM    []byte
	// SharedTLS: one TLS configuration and session cache for the fleet
	// (sharedTLS) rather than posix's tls driver per device.
	SharedTLS bool

	// Jitter spreads the devices' first connections uniformly over
	// [0, Jitter).
	Jitter time.Duration
	// Rate is publishes per second per device (0: none), QoS 0 or 1, of
	// Payload bytes, each bounded by PublishTimeout.
	Rate           float64
	QoS            byte
	Payload        int
	PublishTimeout time.Duration
	// Shadow: each device reports its state when it first connects and
	// applies every desired change (ReportAndClearDesired).
	Shadow bool
	// Backoff is each device's reconnection backoff (link.backoff).
	Backoff core.BackoffConfig
	// Outbox turns the devices' durable outbox on (fsync per interval).
	Outbox bool

	Logger *slog.Logger
}

// Fleet runs N devices in this process through package device.
type Fleet struct {
	opt  Options
	reg  *core.Registry
	devs []*member

	started   time.Time // Start
	lastStart atomic.Int64

	connected   atomic.Int64 // devices whose session is up now
	everUp      atomic.Int64 // devices that connected at least once
	allUpAt     atomic.Int64 // unix ns the last device first connected
	connectTime durationsLocked

	pubOK       atomic.Int64
	pubLatency  histogram
	interval    atomic.Pointer[histogram] // latencies since the last progress line
	errs        errorCounts
	shadowOK    atomic.Int64
	deltas      atomic.Int64
	otaDone     atomic.Int64
	otaPushedAt atomic.Int64
	otaTime     durationsLocked

	storm stormTracker

	steadyAt  atomic.Int64
	steadyPub atomic.Int64

	wg sync.WaitGroup
}

type durationsLocked struct {
	mu sync.Mutex
	d  durations
}

func (d *durationsLocked) add(v time.Duration) {
	d.mu.Lock()
	d.d = append(d.d, v)
	d.mu.Unlock()
}

func (d *durationsLocked) quantiles() Quantiles {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.d.quantiles()
}

// member is one device of the fleet.
type member struct {
	name string
	dev  *device.Device
	up   bool // guarded by the fleet's storm mutex
	// lastErr is why its last attempt failed (storm mutex); ever says it
	// connected once.
	lastErr string
	ever    bool
}

// New creates (or reads) the devices' identities and builds every device,
// without network I/O towards the MQTT listener.
func New(ctx context.Context, admin *hubsim.Client, opt Options) (*Fleet, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(opt.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", opt.Endpoint, err)
	}
	infos := opt.InfoFiles
	if len(infos) == 0 {
		if infos, err = createDevices(ctx, admin, opt); err != nil {
			return nil, err
		}
	}
	// One socket per device, a second one while it downloads a firmware.
	if _, err := raiseNoFile(uint64(len(infos)) + 1024); err != nil {
		return nil, err
	}
	caFile := filepath.Join(opt.Dir, "hub-ca.pem")
	if err := os.WriteFile(caFile, opt.CAPEM, 0o644); err != nil {
		return nil, err
	}
	f := &Fleet{opt: opt}
	f.interval.Store(&histogram{})
	f.storm.n = len(infos)
	if f.reg, err = newRegistry(opt.SharedTLS, opt.CAPEM, host, len(infos)); err != nil {
		return nil, err
	}
	for i, info := range infos {
		m, err := f.build(i, info, caFile)
		if err != nil {
			f.closeAll()
			return nil, err
		}
		f.devs = append(f.devs, m)
	}
	return f, nil
}

// createDevices creates the fleet's devices in hubsim with one bulk
// request (existing ones are reused) and writes their device_info.json.
func createDevices(ctx context.Context, admin *hubsim.Client, opt Options) ([]string, error) {
	res, err := admin.CreateDevices(ctx, hubsim.BulkCreateRequest{ProductID: opt.Product, Prefix: opt.Prefix, Count: opt.Devices, Reuse: true})
	if err != nil {
		return nil, fmt.Errorf("create %d devices in hubsim: %w", opt.Devices, err)
	}
	out := make([]string, len(res.Devices))
	for i, d := range res.Devices {
		dir := filepath.Join(opt.Dir, "devices", d.DeviceName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		out[i] = filepath.Join(dir, hubsim.DeviceInfoFile)
		if err := hubsim.WriteDeviceInfo(out[i], d, res.ProductSecret, []byte(res.CAPEM)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// build builds device i from its device_info.json: the configuration is
// the one iotd.yaml would hold, its state_dir next to the identity.
func (f *Fleet) build(i int, info, caFile string) (*member, error) {
	driverName, trust := "tcp", ""
	if f.opt.TLS {
		driverName, trust = "tls", fmt.Sprintf("  driver_config: {ca_file: %q}\n", caFile)
	}
	outbox := "{enabled: false}"
	if f.opt.Outbox {
		outbox = "{sync: interval}"
	}
	b := f.opt.Backoff
	yaml := fmt.Sprintf(`device_info: %q
state_dir: iotd-state
link:
  driver: %s
  endpoint: %q
%s  backoff: {initial: %s, max: %s, jitter: %g}
outbox: %s
mqtt: {queue_size: 100}
features:
  ota: {version: 1.0.0, ca_file: %q}
  shadow: {disabled: %t}
`, info, driverName, f.opt.Endpoint, trust, time.Duration(b.Initial), time.Duration(b.Max), b.Jitter, outbox, caFile, !f.opt.Shadow)
	cfg, err := device.ParseConfig([]byte(yaml), info+" (fleet)", filepath.Dir(info))
	if err != nil {
		return nil, err
	}
	d, err := device.New(cfg, device.WithRegistry(f.reg), device.WithLogger(f.opt.Logger))
	if err != nil {
		return nil, fmt.Errorf("device %d (%s): %w", i, info, err)
	}
	id := d.Identity()
	return &member{name: id.ProductID + "/" + id.DeviceName, dev: d}, nil
}

func (f *Fleet) closeAll() {
	for _, m := range f.devs {
		_ = m.dev.Close()
	}
}

// MarkSteady starts the steady window: the publish rate the summary gives
// is counted from here.
func (f *Fleet) MarkSteady() {
	f.steadyPub.Store(f.pubOK.Load())
	f.steadyAt.Store(time.Now().UnixNano())
}

// Connected returns how many devices are connected now and how many ever
// connected.
func (f *Fleet) Connected() (now, ever int) {
	_, up := f.storm.snapshot()
	return up, int(f.everUp.Load())
}

// Len is the number of devices.
func (f *Fleet) Len() int { return len(f.devs) }

// Start runs every device, each after a random wait in [0, Jitter), until
// ctx ends; Wait returns once they all stopped.
func (f *Fleet) Start(ctx context.Context) {
	f.started = time.Now()
	for _, m := range f.devs {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.runMember(ctx, m)
		}()
	}
}

// Wait waits for every device to stop (after Start's ctx ended).
func (f *Fleet) Wait() { f.wg.Wait() }

func (f *Fleet) runMember(ctx context.Context, m *member) {
	if f.opt.Jitter > 0 {
		select {
		case <-time.After(rand.N(f.opt.Jitter)):
		case <-ctx.Done():
			_ = m.dev.Close()
			return
		}
	}
	start := time.Now()
	f.lastStart.Store(start.UnixNano())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The link's states, from before Run so that the first connection is
	// seen: "connected" is the MQTT session up (CONNACK, subscriptions).
	// They are followed by a handler, which runs only while a state change
	// is queued (no goroutine per device for it).
	firstUp := make(chan struct{})
	first := true
	watched, err := m.dev.Bus().SubscribeFunc(ctx, bus.TopicLinkState, func(msg *message.Message) {
		s, err := bus.DecodeLinkState(msg)
		if err != nil {
			return
		}
		switch s.State {
		case linkstate.Connected:
			if first {
				first = false
				f.storm.setEver(m)
				f.connectTime.add(time.Since(start))
				if f.everUp.Add(1) == int64(len(f.devs)) {
					f.allUpAt.Store(time.Now().UnixNano())
				}
				close(firstUp)
			}
			f.storm.set(m, true)
		case linkstate.Disconnected:
			f.storm.set(m, false)
			f.storm.setErr(m, s.Err)
			if s.Err != "" {
				f.errs.add("connect: " + errorKind(s.Err))
			}
		case linkstate.Stopped:
			f.storm.set(m, false)
		}
	})
	if err != nil {
		f.errs.add("watch link state")
		_ = m.dev.Close()
		return
	}
	// The device runs on this goroutine; the setup after its start runs on
	// one that ends with it, and the publishes on timers (a goroutine only
	// while one is under way): a device of the fleet adds no goroutine of
	// its own while it waits.
	var work sync.WaitGroup
	work.Go(func() {
		select {
		case <-m.dev.Ready():
		case <-ctx.Done():
			return
		}
		if err := f.otaSetup(m); err != nil {
			f.errs.add("ota: " + errorKind(err.Error()))
		}
		select {
		case <-firstUp:
		case <-ctx.Done():
			return
		}
		if f.opt.Shadow {
			work.Go(func() { f.followShadow(ctx, m) })
		}
		if f.opt.Rate > 0 {
			f.startPublishing(ctx, m, &work)
		}
	})
	_ = m.dev.Run(ctx) // returns when ctx ends or the device cannot start
	cancel()
	work.Wait()
	<-watched
	f.storm.set(m, false)
}

// startPublishing publishes every 1/Rate, from a random phase, until ctx
// ends, each publish on a timer's goroutine (work counts them); a tick
// missed while a publish waited is skipped, as a time.Ticker does.
func (f *Fleet) startPublishing(ctx context.Context, m *member, work *sync.WaitGroup) {
	every := time.Duration(float64(time.Second) / f.opt.Rate)
	payload := make([]byte, max(f.opt.Payload, 32))
	var mu sync.Mutex // guards t and stopped
	var t *time.Timer
	stopped := false
	seq := 0
	next := time.Now().Add(rand.N(every))
	var tick func()
	arm := func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		work.Add(1)
		t = time.AfterFunc(time.Until(next), tick)
	}
	tick = func() {
		defer work.Done()
		if ctx.Err() != nil {
			return
		}
		fill(payload, seq)
		seq++
		f.publishOnce(ctx, m, payload)
		for now := time.Now(); !next.After(now); {
			next = next.Add(every)
		}
		arm()
	}
	context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		if t != nil && t.Stop() {
			work.Done() // its tick will not run
		}
	})
	arm()
}

// publishOnce publishes payload and counts the outcome.
func (f *Fleet) publishOnce(ctx context.Context, m *member, payload []byte) {
	pctx, cancel := context.WithTimeout(ctx, f.opt.PublishTimeout)
	t0 := time.Now()
	res, err := m.dev.Publish(pctx, "event", payload, f.opt.QoS)
	d := time.Since(t0)
	cancel()
	switch {
	case ctx.Err() != nil:
	case err == nil && res == device.Acknowledged:
		f.pubOK.Add(1)
		f.pubLatency.add(d)
		f.interval.Load().add(d)
	case err == nil:
		f.errs.add("publish: " + string(res))
	case errors.Is(err, device.ErrNotSent):
		f.errs.add("publish: not sent within -publish-timeout")
	case errors.Is(err, device.ErrRefused):
		f.errs.add("publish: refused: " + errorKind(err.Error()))
	default:
		f.errs.add("publish: " + errorKind(err.Error()))
	}
}

// fill writes a JSON message of len(p) bytes: the sequence number, padded.
func fill(p []byte, seq int) {
	head := fmt.Sprintf(`{"seq":%d,"pad":"`, seq)
	n := copy(p, head)
	for i := n; i < len(p)-2; i++ {
		p[i] = 'x'
	}
	copy(p[len(p)-2:], `"}`)
}

// followShadow reports the device's state once, then applies every
// desired change.
func (f *Fleet) followShadow(ctx context.Context, m *member) {
	sh, err := m.dev.Shadow()
	if err != nil {
		f.errs.add("shadow: " + errorKind(err.Error()))
		return
	}
	deltas := sh.Watch(ctx)
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = sh.Report(rctx, map[string]json.RawMessage{"firmware": json.RawMessage(`"1.0.0"`), "interval": json.RawMessage(fmt.Sprint(f.opt.Rate))})
	cancel()
	switch {
	case ctx.Err() != nil:
		return
	case err != nil:
		f.errs.add("shadow report: " + errorKind(err.Error()))
	default:
		f.shadowOK.Add(1)
	}
	for d := range deltas {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := sh.ReportAndClearDesired(rctx, d.State)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				f.errs.add("shadow apply: " + errorKind(err.Error()))
			}
			continue
		}
		f.deltas.Add(1)
	}
}

// otaSetup installs the fleet's installer: it takes every verified image
// at once ("installed and running"), and counts it.
func (f *Fleet) otaSetup(m *member) error {
	ota, err := m.dev.OTA()
	if err != nil {
		return err
	}
	ota.SetInstaller(func(ctx context.Context, img feature.FirmwareImage) error {
		_ = os.Remove(img.File)
		f.otaDone.Add(1)
		if at := f.otaPushedAt.Load(); at != 0 {
			f.otaTime.add(time.Since(time.Unix(0, at)))
		}
		return nil
	})
	return nil
}

// PushOTA uploads a firmware of size bytes as version and pushes it to
// every online device of the product; it returns how many were pushed.
func (f *Fleet) PushOTA(ctx context.Context, admin *hubsim.Client, version string, size int) (hubsim.OTAPushAllResult, error) {
	fw := make([]byte, size)
	for i := range fw {
		fw[i] = byte(i * 7)
	}
	if _, err := admin.UploadFirmware(ctx, "fleet-"+version+".bin", version, fw); err != nil {
		return hubsim.OTAPushAllResult{}, err
	}
	f.otaPushedAt.Store(time.Now().UnixNano())
	return admin.PushOTAAll(ctx, f.opt.Product, hubsim.OTAPushRequest{Version: version})
}

// errorKind shortens an error's text to its kind: digits and addresses
// (ports, counts) are folded so that one cause is one line, and it is cut
// at 160 characters.
func errorKind(s string) string {
	var b strings.Builder
	digits := false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			if !digits {
				b.WriteByte('N')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > 160 {
		out = out[:160] + "…"
	}
	return out
}

// stormTracker follows how many devices are connected and measures every
// reconnect storm: from the first drop while the fleet was at its peak
// (the most devices connected so far), once at least a tenth of the fleet
// went down, to 99% and to 100% of that peak back.
type stormTracker struct {
	mu        sync.Mutex
	n         int
	up        int
	peak      int       // the most devices connected at once so far
	dropAt    time.Time // the first drop while up == peak
	active    bool
	from, low int // the storm's peak and its fewest connected
	t99, t100 time.Duration
	storms    []Storm
}

// Storm is one reconnect storm.
type Storm struct {
	Start time.Time `json:"start"`
	// Peak is how many were connected before it, Down the most devices
	// disconnected at once.
	Peak int `json:"peak"`
	Down int `json:"down"`
	// To99 and To100 are the times from the first drop until 99% and all
	// of Peak were connected again (0: not reached).
	To99MS  float64 `json:"to99_ms"`
	To100MS float64 `json:"to100_ms"`
}

func (s *stormTracker) set(m *member, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.up == up {
		return
	}
	m.up = up
	now := time.Now()
	if !up {
		if s.up == s.peak && !s.active {
			s.dropAt = now
		}
		s.up--
		if !s.active && s.peak-s.up >= max(1, s.peak/10) && !s.dropAt.IsZero() {
			s.active, s.from, s.low, s.t99, s.t100 = true, s.peak, s.up, 0, 0
		}
		s.low = min(s.low, s.up)
		return
	}
	s.up++
	s.peak = max(s.peak, s.up)
	if !s.active {
		return
	}
	if s.t99 == 0 && float64(s.up) >= 0.99*float64(s.from) {
		s.t99 = now.Sub(s.dropAt)
	}
	if s.up >= s.from {
		s.t100 = now.Sub(s.dropAt)
		s.storms = append(s.storms, Storm{Start: s.dropAt, Peak: s.from, Down: s.from - s.low, To99MS: ms(s.t99), To100MS: ms(s.t100)})
		s.active = false
	}
}

func (s *stormTracker) setErr(m *member, err string) {
	s.mu.Lock()
	m.lastErr = err
	s.mu.Unlock()
}

func (s *stormTracker) setEver(m *member) {
	s.mu.Lock()
	m.ever = true
	s.mu.Unlock()
}

// neverConnected lists up to max devices that never connected, with their
// last error.
func (f *Fleet) neverConnected(most int) []string {
	f.storm.mu.Lock()
	defer f.storm.mu.Unlock()
	var out []string
	for _, m := range f.devs {
		if !m.ever && len(out) < most {
			out = append(out, m.name+": "+m.lastErr)
		}
	}
	return out
}

// snapshot returns the storms, the one in progress last (To100 0), and the
// devices connected now.
func (s *stormTracker) snapshot() ([]Storm, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]Storm(nil), s.storms...)
	if s.active {
		out = append(out, Storm{Start: s.dropAt, Peak: s.from, Down: s.from - s.low, To99MS: ms(s.t99)})
	}
	return out, s.up
}

// memory reads the Go heap in use and the process's resident set (and its
// peak) in bytes; RSS is 0 where /proc is missing.
func memory() (heap, rss, peak uint64) {
	m := readMemory()
	return m.heap, m.rss, m.peak
}

type memFigures struct{ heap, stack, rss, peak uint64 }

func readMemory() memFigures {
	heap, rss, peak, stack := memoryAll()
	return memFigures{heap: heap, stack: stack, rss: rss, peak: peak}
}

func memoryAll() (heap, rss, peak, stack uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		var v uint64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &v); err == nil {
			rss = v << 10
		}
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &v); err == nil {
			peak = v << 10
		}
	}
	return ms.HeapInuse, rss, peak, ms.StackInuse
}
