package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/linkstate"
	"github.com/iotd/iotd/device"
	"github.com/iotd/iotd/localapi"
)

// Version is iotd's version, set at build time with -ldflags.
var Version = "dev"

// Daemon is a configured, not yet running iotd: a device (package device:
// identity, link, bus, uplink, features) served to local programs on a
// Unix socket. Build it with [New], then call Run.
type Daemon struct {
	cfg   *Config
	reg   *core.Registry
	log   *slog.Logger
	dev   *device.Device
	ready chan struct{} // closed once the local API listens
}

// New builds the device of cfg (see device.New: the identity, the link's
// driver, the bus, the uplink and every registered feature the
// configuration enables), without network I/O. Errors name the file, key
// or driver at fault.
func New(cfg *Config, reg *core.Registry, log *slog.Logger) (*Daemon, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{cfg: cfg, reg: reg, log: log, ready: make(chan struct{})}
	// The drivers that log (a modem's bring-up, its AT trace) log to the
	// daemon's log from the start, and through the features that take log
	// lines (log upload) once the device has them.
	d.lendLogger()
	dev, err := device.New(&cfg.Config, device.WithLogger(log), device.WithRegistry(reg))
	if err != nil {
		return nil, err
	}
	d.dev, d.log = dev, dev.Logger()
	d.lendLogger()
	return d, nil
}

// Device returns the loaded identity.
func (d *Daemon) Device() *core.DeviceInfo { return d.dev.Identity() }

// Bus returns the daemon's bus.
func (d *Daemon) Bus() *bus.Bus { return d.dev.Bus() }

// Contact returns what the daemon contacts and trusts.
func (d *Daemon) Contact() device.Contact { return d.dev.Contact() }

// ExpandTopic turns a short topic without a slash ("event") into the
// device's own topic; see device.ExpandTopic.
func (d *Daemon) ExpandTopic(t string) string { return d.dev.ExpandTopic(t) }

// CheckTopic refuses a topic the hub would refuse for this device (or its
// online sub-devices); see [device.Device.CheckTopic].
func (d *Daemon) CheckTopic(topic string, filter bool) error { return d.dev.CheckTopic(topic, filter) }

// Status reports the daemon's state: the device's, with iotd's version.
func (d *Daemon) Status() localapi.Status {
	st := d.dev.Status()
	st.Version = Version
	return st
}

// Ready is closed once the local API accepts connections.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Run runs the daemon until ctx ends, then shuts down in reverse start order
// and returns nil; it returns an error only if something could not start.
func (d *Daemon) Run(ctx context.Context) error { return d.run(ctx, true) }

// run is Run, with the local API only when serveAPI is set: a one-shot
// check must not compete with a running daemon for its socket.
func (d *Daemon) run(ctx context.Context, serveAPI bool) error {
	var api *apiServer
	if serveAPI {
		var err error
		if api, err = d.listenAPI(); err != nil {
			d.dev.Close()
			return err
		}
	}
	socket := "none (check only)"
	if serveAPI {
		socket = d.cfg.SocketPath()
	}
	id, c := d.dev.Identity(), d.dev.Contact()
	d.log.Info("iotd starting", "version", Version, "device", id.ClientID(),
		"auth", id.AuthMode, "channel", c.Channel, "driver", c.Driver, "endpoint", c.Endpoint,
		"region", c.Region, "trust", c.Trust.From, "socket", socket)
	for _, w := range c.Trust.Status(d.dev.Clock().Now()).Warnings {
		d.log.Warn(w)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go d.logLinkStates(ctx)
	// The device and the API: the first to fail stops the other.
	devErr, apiErr := make(chan error, 1), make(chan error, 1)
	go func() {
		err := d.dev.Run(ctx) // its errors name their part: "uplink: ...", "shadow: ..."
		cancel()
		devErr <- err
	}()
	// The API serves once the device runs: its handlers publish and
	// subscribe through the uplink and read the features.
	select {
	case <-d.dev.Ready():
	case <-ctx.Done():
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

	err := <-devErr
	if aerr := <-apiErr; err == nil || errors.Is(err, context.Canceled) {
		err = aerr
	}
	d.log.Info("iotd stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// logLinkStates prints link state changes with a hint about the cause when
// the hub refused us, so a user sees why at once.
func (d *Daemon) logLinkStates(ctx context.Context) {
	ch, err := d.dev.Bus().Subscribe(ctx, bus.TopicLinkState)
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
			} else if hint := d.dev.Contact().Trust.Hint(st.Err); hint != "" {
				d.log.Error("the server is not trusted", "err", st.Err, "hint", hint)
			}
		}
	}
}
