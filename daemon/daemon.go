package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
	"github.com/iotd/iotd/device"
	"github.com/iotd/iotd/localapi"
)

// Version is iotd's version, set at build time with -ldflags.
var Version = "dev"

// Daemon is a configured, not yet running iotd: its devices (package
// device: identity, link, bus, uplink, features; one, or several under
// devices:) served to local programs on one Unix socket. Build it with
// [New], then call Run.
type Daemon struct {
	cfg   *Config
	reg   *core.Registry
	log   *slog.Logger
	units []*Unit       // in name order
	ready chan struct{} // closed once the local API listens
	live  liveLevel     // the log level a reload may change (reload.go)
}

// Unit is one device of a daemon: its name (the key under devices:, or
// [DefaultDeviceName]), its configuration and the device it runs, with its
// own link, identity, features and state.
type Unit struct {
	name string
	cfg  *device.Config
	reg  *core.Registry
	log  *slog.Logger
	dev  *device.Device
	// named: the configuration has devices:, so the unit's logs and errors
	// carry its name.
	named bool
}

// New builds the devices of cfg (see device.New: the identity, the link's
// driver, the bus, the uplink and every registered feature the
// configuration enables), without network I/O. Errors name the file, key
// or driver at fault, and with several devices the device. Two devices
// with the same identity (product and device name) are refused.
func New(cfg *Config, reg *core.Registry, log *slog.Logger) (*Daemon, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{cfg: cfg, reg: reg, ready: make(chan struct{})}
	log = d.live.wrap(log)
	d.log = log
	// The drivers that log (a modem's bring-up, its AT trace) log to the
	// daemon's log from the start, and, with one device, through the
	// features that take log lines (log upload) once the device has them.
	d.lendLogger()
	named := cfg.Devices != nil
	for _, nd := range cfg.DeviceConfigs() {
		l := log
		if named {
			l = log.With("device", nd.Name)
		}
		dev, err := device.New(nd.Config, device.WithLogger(l), device.WithRegistry(reg))
		if err != nil {
			d.close()
			if named {
				err = fmt.Errorf("device %s: %w", nd.Name, err)
			}
			return nil, err
		}
		d.units = append(d.units, &Unit{name: nd.Name, cfg: nd.Config, reg: reg, log: dev.Logger(), dev: dev, named: named})
	}
	if err := checkIdentities(d.units); err != nil {
		d.close()
		return nil, err
	}
	if !named {
		d.log = d.units[0].log
		d.lendLogger()
	}
	return d, nil
}

// close releases the devices of a daemon that will not run.
func (d *Daemon) close() {
	for _, u := range d.units {
		u.dev.Close()
	}
}

// Units returns the daemon's devices, in name order.
func (d *Daemon) Units() []*Unit { return slices.Clone(d.units) }

// Unit returns the device named name, or nil.
func (d *Daemon) Unit(name string) *Unit {
	for _, u := range d.units {
		if u.name == name {
			return u
		}
	}
	return nil
}

// names lists the devices' names.
func (d *Daemon) names() []string {
	out := make([]string, len(d.units))
	for i, u := range d.units {
		out[i] = u.name
	}
	return out
}

// first is the device the single-device methods (Device, Bus, Contact,
// ...) answer for: the only one, or the first in name order.
func (d *Daemon) first() *Unit { return d.units[0] }

// Device returns the loaded identity of the daemon's device (with several,
// the first's in name order: see Units).
func (d *Daemon) Device() *core.DeviceInfo { return d.first().Identity() }

// Bus returns the bus of the daemon's device (with several, the first's).
func (d *Daemon) Bus() *bus.Bus { return d.first().dev.Bus() }

// Contact returns what the daemon's device contacts and trusts (with
// several, the first's).
func (d *Daemon) Contact() device.Contact { return d.first().Contact() }

// ExpandTopic turns a short topic without a slash ("event") into the
// device's own topic (with several, the first's); see device.ExpandTopic.
func (d *Daemon) ExpandTopic(t string) string { return d.first().ExpandTopic(t) }

// CheckTopic refuses a topic the hub would refuse for the device (with
// several, the first), or its online sub-devices; see
// [device.Device.CheckTopic].
func (d *Daemon) CheckTopic(topic string, filter bool) error {
	return d.first().CheckTopic(topic, filter)
}

// Status reports the state of the daemon's device (with several, the
// first's), with iotd's version.
func (d *Daemon) Status() localapi.Status { return d.first().Status() }

// Name is the device's name in the daemon: its key under devices:, or
// [DefaultDeviceName].
func (u *Unit) Name() string { return u.name }

// Device returns the device the unit runs.
func (u *Unit) Device() *device.Device { return u.dev }

// Config returns the device's configuration.
func (u *Unit) Config() *device.Config { return u.cfg }

// Identity returns the loaded identity.
func (u *Unit) Identity() *core.DeviceInfo { return u.dev.Identity() }

// Contact returns what the device contacts and trusts.
func (u *Unit) Contact() device.Contact { return u.dev.Contact() }

// ExpandTopic turns a short topic without a slash ("event") into the
// device's own topic; see device.ExpandTopic.
func (u *Unit) ExpandTopic(t string) string { return u.dev.ExpandTopic(t) }

// CheckTopic refuses a topic the hub would refuse for this device (or its
// online sub-devices); see [device.Device.CheckTopic].
func (u *Unit) CheckTopic(topic string, filter bool) error { return u.dev.CheckTopic(topic, filter) }

// Status reports the device's state, with iotd's version.
func (u *Unit) Status() localapi.Status {
	st := u.dev.Status()
	st.Version = Version
	return st
}

// Ready is closed once every device runs and the local API accepts
// connections.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Run runs the daemon until ctx ends, then shuts down in reverse start order
// and returns nil; it returns an error only if something could not start,
// or a device failed: that stops the others, and with several devices the
// error names the one.
func (d *Daemon) Run(ctx context.Context) error { return d.run(ctx, true) }

// run is Run, with the local API only when serveAPI is set: a one-shot
// check must not compete with a running daemon for its socket.
func (d *Daemon) run(ctx context.Context, serveAPI bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var api *apiServer
	if serveAPI {
		waitMetrics, err := d.startMetrics(ctx) // metrics.go; stopped by cancel
		if err != nil {
			d.close()
			return err
		}
		defer waitMetrics()
		if api, err = d.listenAPI(); err != nil {
			d.close()
			return err
		}
	}
	socket := "none (check only)"
	if serveAPI {
		socket = d.cfg.SocketPath()
	}
	if len(d.units) > 1 {
		d.log.Info("iotd starting", "version", Version, "devices", strings.Join(d.names(), ","), "socket", socket)
	}
	// The devices and the API: the first to fail stops the others.
	devErrs, apiErr := make(chan error, len(d.units)), make(chan error, 1)
	for _, u := range d.units {
		u.logStart(socket)
		go u.logLinkStates(ctx)
		go func() {
			err := u.dev.Run(ctx) // its errors name their part: "uplink: ...", "shadow: ..."
			if err != nil && u.named && !errors.Is(err, context.Canceled) {
				err = fmt.Errorf("device %s: %w", u.name, err)
				u.log.Error("device stopped: stopping the daemon", "err", err)
			}
			cancel()
			devErrs <- err
		}()
	}
	// The API serves once the devices run: its handlers publish and
	// subscribe through the uplinks and read the features.
	for _, u := range d.units {
		select {
		case <-u.dev.Ready():
		case <-ctx.Done():
		}
	}
	if api != nil {
		go func() {
			err := api.serve(ctx)
			if err != nil {
				cancel()
				err = fmt.Errorf("api: %w", err)
			}
			apiErr <- err
		}()
	} else {
		apiErr <- nil
	}
	close(d.ready)
	if api != nil {
		d.supervise(ctx) // notify.go: READY, STATUS, WATCHDOG, SIGHUP; until ctx ends
	}

	var err error
	for range d.units {
		if e := <-devErrs; err == nil || errors.Is(err, context.Canceled) {
			err = e
		}
	}
	if aerr := <-apiErr; err == nil || errors.Is(err, context.Canceled) {
		err = aerr
	}
	d.log.Info("iotd stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// logStart logs what the device is and contacts.
func (u *Unit) logStart(socket string) {
	id, c := u.dev.Identity(), u.dev.Contact()
	msg, key := "iotd starting", "device"
	if u.named {
		msg, key = "device starting", "client_id" // "device" is the unit's name
	}
	u.log.Info(msg, "version", Version, key, id.ClientID(),
		"auth", id.AuthMode, "channel", c.Channel, "driver", c.Driver, "endpoint", c.Endpoint,
		"region", c.Region, "trust", c.Trust.From, "socket", socket)
	for _, w := range c.Trust.Status(u.dev.Clock().Now()).Warnings {
		u.log.Warn(w)
	}
}

// logLinkStates prints link state changes with a hint about the cause when
// the hub refused us, so a user sees why at once.
func (u *Unit) logLinkStates(ctx context.Context) {
	ch, err := u.dev.Bus().Subscribe(ctx, bus.TopicLinkState)
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
			if hint := u.refusalHint(st.Err); hint != "" {
				u.log.Error("hub refused the connection", "err", st.Err, "hint", hint)
			} else if hint := u.dev.Contact().Trust.Hint(st.Err); hint != "" {
				u.log.Error("the server is not trusted", "err", st.Err, "hint", hint)
			}
		}
	}
}
