package daemon

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
	"github.com/iotd/iotd/core/linkstate"
)

// Version is iotd's version, set at build time with -ldflags.
var Version = "dev"

// Daemon is a configured, not yet running iotd. Build it with [New], then
// call Run.
type Daemon struct {
	cfg      *Config
	reg      *core.Registry
	log      *slog.Logger
	device   *core.DeviceInfo
	bus      *bus.Bus
	clock    *core.Clock
	link     *core.Link
	uplink   uplink
	mqtt     *mqttup.Uplink    // set when the channel is mqtt
	box      *outbox.Outbox    // the durable outbox; nil when off
	coap     *coapup.Uplink    // set when the channel is coap
	module   *attencent.Uplink // set when the channel is at-tencent
	features []builtFeature    // every registered module, built, by name
	// subDevices follows the gateway's sub-devices, whose topics the local
	// API lets through.
	subDevices *bus.SubDeviceFollower
	contact    Contact
	started    time.Time
	ready      chan struct{} // closed once the local API listens
}

// New loads the device identity, resolves the driver and builds every
// component, without network I/O. Errors name the file, key or driver at
// fault.
func New(cfg *Config, reg *core.Registry, log *slog.Logger) (*Daemon, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dev, err := core.LoadDeviceInfo(cfg.DeviceInfoPath())
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, reg: reg, log: log, device: dev, clock: &core.Clock{}, ready: make(chan struct{})}

	linkCfg, err := d.linkConfig()
	if err != nil {
		return nil, err
	}
	b, err := bus.New(bus.Config{}, log)
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
	d.lendLogger()
	if cfg.channel() != ChannelATTencent { // the module is the link
		d.link, err = reg.OpenLink(linkCfg, core.LinkOptions{Logger: log, OnState: b.PublishLinkState})
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
func (d *Daemon) closeOutbox() {
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
func (d *Daemon) linkConfig() (core.LinkConfig, error) {
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
		Endpoint: lc.Endpoint, EndpointFrom: "link.endpoint in " + d.cfg.source()}
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
func (d *Daemon) checkTransport(c Contact, transport driver.Transport) error {
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

// Device returns the loaded identity.
func (d *Daemon) Device() *core.DeviceInfo { return d.device }

// Bus returns the daemon's bus.
func (d *Daemon) Bus() *bus.Bus { return d.bus }

// Ready is closed once the local API accepts connections.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Run runs the daemon until ctx ends, then shuts down in reverse start order
// and returns nil; it returns an error only if something could not start.
func (d *Daemon) Run(ctx context.Context) error { return d.run(ctx, true) }

// run is Run, with the local API only when serveAPI is set: a one-shot
// check must not compete with a running daemon for its socket.
func (d *Daemon) run(ctx context.Context, serveAPI bool) error {
	defer d.bus.Close()
	defer d.closeOutbox()
	d.started = time.Now()
	var api *apiServer
	if serveAPI {
		var err error
		if api, err = d.listenAPI(); err != nil {
			return err
		}
	}
	socket := "none (check only)"
	if serveAPI {
		socket = d.cfg.SocketPath()
	}
	d.log.Info("iotd starting", "version", Version, "device", d.device.ClientID(),
		"auth", d.device.AuthMode, "channel", d.cfg.channel(), "driver", d.contact.Driver, "endpoint", d.contact.Endpoint,
		"region", d.contact.Region, "trust", d.contact.Trust.From, "socket", socket)
	for _, w := range trustStatus(d.contact.Trust, d.clock.Now()).Warnings {
		d.log.Warn(w)
	}

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
	go d.logLinkStates(ctx)
	start("uplink", d.uplink.Run)
	// Features talk to the uplink through the bus; start them once it
	// listens, so their first requests are not dropped.
	select {
	case <-d.uplink.Serving():
	case <-ctx.Done():
	}
	start("sub-devices", d.subDevices.Run)
	for _, f := range d.features {
		start(f.name, f.Run)
	}
	if api != nil {
		start("api", api.serve)
	}
	close(d.ready)

	<-ctx.Done()
	wg.Wait()
	d.log.Info("iotd stopped")
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// logLinkStates prints link state changes with a hint about the cause when
// the hub refused us, so a user sees why at once.
func (d *Daemon) logLinkStates(ctx context.Context) {
	ch, err := d.bus.Subscribe(ctx, bus.TopicLinkState)
	if err != nil {
		return
	}
	for m := range ch {
		m.Ack()
		st, err := bus.DecodeLinkState(m)
		if err != nil {
			continue
		}
		if st.State == linkstate.Disconnected && st.Err != "" {
			if hint := d.refusalHint(st.Err); hint != "" {
				d.log.Error("hub refused the connection", "err", st.Err, "hint", hint)
			} else if hint := d.trustHint(st.Err); hint != "" {
				d.log.Error("the server is not trusted", "err", st.Err, "hint", hint)
			}
		}
	}
}
