package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/attencent"
	coapup "github.com/iotd/iotd/bus/coap"
	mqttup "github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/bus/outbox"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/feature"
)

// Device is one device connected to the hub: its identity, link, bus,
// uplink and features, each its own, so that several devices run in one
// process side by side. Build it with [New], then call [Device.Run] once;
// [Device.Close] releases a device that will not run. Its methods are safe
// for concurrent use.
type Device struct {
	cfg      *Config
	reg      *core.Registry
	log      *slog.Logger
	device   *core.DeviceInfo
	bus      *bus.Bus
	clock    *core.Clock
	link     *core.Link
	linkCfg  core.LinkConfig
	uplink   uplink
	mqtt     *mqttup.Uplink    // set when the channel is mqtt
	box      outbox.Store      // the durable outbox; nil when off
	coap     *coapup.Uplink    // set when the channel is coap
	module   *attencent.Uplink // set when the channel is at-tencent
	features []builtFeature    // every registered module, built, by name
	// subDevices follows the gateway's sub-devices, whose topics a gateway
	// may use too.
	subDevices *bus.SubDeviceFollower
	contact    Contact

	mu      sync.Mutex // guards started, state
	started time.Time
	state   int           // idle, running or closed
	ready   chan struct{} // closed once the uplink serves and the features run
}

// The states of a Device.
const (
	idle = iota
	running
	closed
)

// Errors of the lifecycle.
var (
	// ErrClosed: the device ran (or was closed) and cannot run again; build
	// a new one with New.
	ErrClosed = errors.New("device: closed")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("device: already running")
)

// Option changes what New builds a device with.
type Option func(*options)

type options struct {
	log *slog.Logger
	reg *core.Registry
}

// WithLogger has the device log to log (default: nowhere).
func WithLogger(log *slog.Logger) Option { return func(o *options) { o.log = log } }

// WithRegistry has the device open its link and HTTP connections through
// the drivers of reg (default core.Default, where the drivers a program
// links register themselves).
func WithRegistry(reg *core.Registry) Option { return func(o *options) { o.reg = reg } }

// New loads the device identity (cfg's device_info), resolves the link's
// driver and builds the bus, the link, the uplink and every registered
// feature the configuration enables, without network I/O. Errors name the
// file, key or driver at fault. Features register themselves: a program
// links one with a blank import (_ "github.com/iotd/iotd/features/shadow").
// New does not register the device (dynamic registration); see
// [Register].
func New(cfg *Config, opts ...Option) (*Device, error) {
	o := options{reg: core.Default}
	for _, f := range opts {
		f(&o)
	}
	log, reg := o.log, o.reg
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Features == nil {
		if err := cfg.Validate(); err != nil { // a Config built in code
			return nil, err
		}
	}
	dev, err := core.LoadDeviceInfo(cfg.DeviceInfoPath())
	if err != nil {
		return nil, err
	}
	d := &Device{cfg: cfg, reg: reg, log: log, device: dev, clock: &core.Clock{}, ready: make(chan struct{})}

	if d.linkCfg, err = d.linkConfig(); err != nil {
		return nil, err
	}
	b, err := bus.New(cfg.Bus, log)
	if err != nil {
		return nil, err
	}
	d.bus = b
	d.subDevices = b.FollowSubDevices()
	env, off := d.featureEnv()
	// Features that take log lines (log upload) first: everything below
	// logs through them too.
	if err := d.buildFeatures(env, true); err != nil {
		b.Close()
		return nil, err
	}
	log = d.teeLog(log)
	d.log, env.Log = log, log
	if cfg.channel() != ChannelATTencent { // the module is the link
		d.link, err = reg.OpenLink(d.linkCfg, core.LinkOptions{Logger: log, OnState: b.PublishLinkState})
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	if d.box, err = d.openOutbox(); err != nil {
		b.Close()
		return nil, err
	}
	d.uplink, err = d.newUplink(b, log)
	if err != nil {
		d.closeOutbox()
		b.Close()
		return nil, err
	}
	if d.module != nil {
		env.Caps.Firmware = moduleFirmware{d.module}
	}
	d.logFeaturesOff(off)
	err = d.buildFeatures(env, false)
	if err != nil {
		d.closeOutbox()
		b.Close()
		return nil, err
	}
	return d, nil
}

// closeOutbox closes the outbox, once the uplink no longer uses it.
func (d *Device) closeOutbox() {
	if d.box == nil {
		return
	}
	if err := d.box.Close(); err != nil {
		d.log.Error("outbox: close", "err", err)
	}
	d.box = nil
}

// linkConfig turns the link section and the identity into a
// core.LinkConfig, and resolves d.contact on the way: the region, the
// endpoint and the trust.
func (d *Device) linkConfig() (core.LinkConfig, error) {
	lc := d.cfg.Link
	channel := d.cfg.channel()
	if channel == ChannelATTencent {
		return core.LinkConfig{}, d.atTencentContact()
	}
	region, err := d.cfg.region(d.device)
	if err != nil {
		return core.LinkConfig{}, err
	}
	name := lc.Driver
	transport := driver.Stream
	if name == "" {
		name = "tls"
		if channel == ChannelCoAP {
			name = "dtls"
		}
	}
	dc := d.cfg.resolveFiles(lc.DriverConfig)
	if lc.DriverConfig == nil {
		if m := d.cfg.driverSettings(name); m != nil {
			dc = m
		}
	}
	// TLS over a modem: the carrier's settings come from the drivers
	// section unless given inline.
	if over, ok := dc["over"].(string); ok && name == "tls" {
		if _, set := dc["over_config"]; !set {
			if m := d.cfg.driverSettings(over); m != nil {
				dc["over_config"] = m
			}
		}
	}
	if channel == ChannelCoAP {
		d.coapLinkDefaults(name, dc)
		transport = driver.Datagram
	}
	c := Contact{Region: region.Name, RegionConfirmed: region.Confirmed, Channel: channel, Driver: name,
		Endpoint: lc.Endpoint, EndpointFrom: "link.endpoint in " + d.cfg.Source()}
	if c.Endpoint == "" {
		if c.Endpoint, err = region.Endpoint(linkService(channel, name), d.device.ProductID); err != nil {
			return core.LinkConfig{}, err
		}
		c.EndpointFrom = "region " + region.Name
	}
	if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		return core.LinkConfig{}, &core.ConfigError{Source: "config", Field: "link.endpoint", Msg: fmt.Sprintf("%q is not host:port", c.Endpoint)}
	}
	if d.device.IsCert() && (name == "tls" || name == "dtls") {
		if _, ok := dc["cert_file"]; !ok {
			dc["cert_file"] = d.device.CertFile()
		}
		if _, ok := dc["key_file"]; !ok {
			dc["key_file"] = d.device.KeyFile()
		}
	}
	c.Trust = d.linkTrust(channel, name, dc)
	over, _ := dc["over"].(string)
	overModem := isModem(name) || isModem(over)
	if channel == ChannelWebSocket {
		c.Carrier, c.Driver = name, "websocket"
		dc = d.cfg.WebSocket.websocketDriverConfig(name, dc)
	}
	c.RegistrationURL = orDefault(d.cfg.Registration.URL, region.RegistrationURL)
	c.LogUploadURL = orDefault(d.cfg.logURL(), region.LogURL)
	if err := d.checkTransport(c, transport); err != nil {
		return core.LinkConfig{}, err
	}
	raw, err := json.Marshal(dc)
	if err != nil {
		return core.LinkConfig{}, &core.ConfigError{Source: "config", Field: "link.driver_config", Msg: err.Error()}
	}
	dialTimeout := lc.DialTimeout
	if dialTimeout == 0 && overModem {
		// A modem's first dial brings it up: SIM, registration (up to its
		// registration_timeout, 2m by default), attach.
		dialTimeout = ModemDialTimeout
	}
	d.contact = c
	return core.LinkConfig{
		Driver: c.Driver, Address: c.Endpoint, Transport: transport,
		DriverConfig: raw, DialTimeout: dialTimeout, Backoff: lc.Backoff,
	}, nil
}

// checkTransport checks that the link's driver (and the WebSocket
// channel's carrier) offer what the channel needs.
func (d *Device) checkTransport(c Contact, transport driver.Transport) error {
	name, need := c.Driver, "MQTT needs one (for CoAP set channel: coap)"
	switch {
	case c.Channel == ChannelCoAP:
		need = "the CoAP channel needs one (dtls or udp)"
	case c.Carrier != "":
		name, need = c.Carrier, "the websocket channel runs over one (tls for wss, tcp for ws)"
	}
	bad := func(msg string) error { return &core.ConfigError{Source: "config", Field: "link.driver", Msg: msg} }
	if _, err := d.reg.Driver(c.Driver); err != nil {
		return bad(err.Error())
	}
	drv, err := d.reg.Driver(name)
	if err != nil {
		return bad(err.Error())
	}
	if !containsTransport(drv.Transports(), transport) {
		return bad(fmt.Sprintf("driver %q offers no %s transport; %s", name, transport, need))
	}
	return nil
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// ModemDialTimeout is link.dial_timeout's default for AT modem drivers.
const ModemDialTimeout = 3 * time.Minute

func isModem(driverName string) bool {
	return driverName == "at" || strings.HasPrefix(driverName, "at.")
}

func containsTransport(ts []driver.Transport, t driver.Transport) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// Identity returns the loaded identity (device_info.json).
func (d *Device) Identity() *core.DeviceInfo { return d.device }

// Config returns the configuration the device was built from.
func (d *Device) Config() *Config { return d.cfg }

// Logger returns the device's logger: the one given to New, teed into the
// features that take log lines (log upload).
func (d *Device) Logger() *slog.Logger { return d.log }

// Clock returns the device clock, corrected by time sync once connected.
func (d *Device) Clock() *core.Clock { return d.clock }

// LinkConfig returns what the link dials: the driver, the endpoint and the
// driver's configuration (nothing on channel at-tencent, whose module is
// the link).
func (d *Device) LinkConfig() core.LinkConfig { return d.linkCfg }

// Bus returns the device's bus, for code that speaks the bus's protocol
// (watermill messages) itself, such as a feature of its own.
func (d *Device) Bus() *bus.Bus { return d.bus }

// Ready is closed once Run has the uplink serving and the features
// running: publishes are queued from then on, and subscriptions recorded.
func (d *Device) Ready() <-chan struct{} { return d.ready }

// Run connects and runs the device until ctx ends: the uplink (which
// connects and reconnects with backoff forever), then the features. When
// ctx ends it stops them, closes the device and returns nil; it returns an
// error only when something could not start or a feature failed, which
// also stops the rest. Run may be called once; afterwards the device is
// closed (ErrClosed).
func (d *Device) Run(ctx context.Context) error {
	d.mu.Lock()
	switch d.state {
	case running:
		d.mu.Unlock()
		return ErrRunning
	case closed:
		d.mu.Unlock()
		return ErrClosed
	}
	d.state, d.started = running, time.Now()
	d.mu.Unlock()
	defer d.shut()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	start := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	start("uplink", d.uplink.Run)
	// Features talk to the uplink through the bus; start them once it
	// listens, so their first requests are not dropped.
	select {
	case <-d.uplink.Serving():
	case <-ctx.Done():
	}
	// The sub-devices are followed without a goroutine of their own.
	if _, err := d.subDevices.Start(ctx); err != nil && ctx.Err() == nil {
		errs <- fmt.Errorf("sub-devices: %w", err)
		cancel()
	}
	for _, f := range d.features {
		if idle, ok := f.Feature.(feature.Idler); ok && idle.Idle() {
			continue // its Run would only wait for ctx
		}
		start(f.name, f.Run)
	}
	close(d.ready)

	<-ctx.Done()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// Close releases a device that is not running: its bus and its outbox. A
// running device closes itself when Run returns; Close on it, or twice,
// does nothing.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.state != idle {
		d.mu.Unlock()
		return nil
	}
	d.mu.Unlock()
	d.shut()
	return nil
}

// shut closes the outbox and the bus, in that order: the uplink no longer
// uses the outbox.
func (d *Device) shut() {
	d.mu.Lock()
	d.state = closed
	d.mu.Unlock()
	d.closeOutbox()
	d.bus.Close()
}
