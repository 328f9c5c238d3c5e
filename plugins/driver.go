package plugins

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

// remoteDriver is a driver served by a plugin. Its capabilities are the
// ones the plugin advertised, found by driver.Lookup through Unwrap.
type remoteDriver struct {
	p          *Plugin
	info       *pb.DriverInfo
	transports []driver.Transport
	caps       any // chain of advertised capabilities, or nil
}

func newRemoteDriver(p *Plugin, info *pb.DriverInfo) *remoteDriver {
	d := &remoteDriver{p: p, info: info}
	for _, t := range info.Transports {
		d.transports = append(d.transports, driver.Transport(t))
	}
	d.caps = driverCaps(info.HasVersion, info.Version, info.MaxPayload)
	return d
}

func (d *remoteDriver) Name() string                   { return d.info.Name }
func (d *remoteDriver) Transports() []driver.Transport { return slices.Clone(d.transports) }
func (d *remoteDriver) String() string                 { return d.info.Name + " (plugin " + d.p.name + ")" }
func (d *remoteDriver) Unwrap() any                    { return d.caps }
func (d *remoteDriver) Plugin() *Plugin                { return d.p }

// Capabilities lists the capability names the plugin advertised for the
// driver ("version", "max_payload", "signal", "sleeper").
func (d *remoteDriver) Capabilities() []string {
	var out []string
	if d.info.HasVersion {
		out = append(out, "version")
	}
	if d.info.MaxPayload > 0 {
		out = append(out, "max_payload")
	}
	if d.info.Signal {
		out = append(out, "signal")
	}
	if d.info.Sleeper {
		out = append(out, "sleeper")
	}
	return out
}

// Probe runs the driver's Probe in the plugin, waiting for a restart if
// one is under way.
func (d *remoteDriver) Probe(ctx context.Context) error {
	g, err := d.p.current(ctx)
	if err != nil {
		return err
	}
	res, err := g.rpc.Probe(ctx, &pb.ProbeRequest{Driver: d.info.Name})
	if err != nil {
		return d.p.callError(ctx, g, err)
	}
	return wire.DecodeError(res.Error)
}

// Open parses config in the plugin (so that a bad configuration fails
// here, naming the key) and returns a Dialer that opens it again in a
// restarted plugin when it has to.
func (d *remoteDriver) Open(config []byte) (driver.Dialer, error) {
	dl := &remoteDialer{d: d, config: slices.Clone(config)}
	ctx, cancel := context.WithTimeout(context.Background(), d.p.opts.StartTimeout)
	defer cancel()
	g, err := d.p.current(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := dl.handle(ctx, g); err != nil {
		return nil, err
	}
	return dl, nil
}

// remoteDialer is a Dialer in a plugin, kept by its configuration.
type remoteDialer struct {
	d      *remoteDriver
	config []byte

	mu  sync.Mutex // guards gen and id
	gen *generation
	id  uint64
}

// handle returns the dialer's id in generation g, opening it there first
// if it was opened in an earlier process.
func (dl *remoteDialer) handle(ctx context.Context, g *generation) (uint64, error) {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if dl.gen == g {
		return dl.id, nil
	}
	res, err := g.rpc.Open(ctx, &pb.OpenRequest{Driver: dl.d.info.Name, Config: dl.config})
	if err != nil {
		return 0, dl.d.p.callError(ctx, g, err)
	}
	if res.Error != nil {
		return 0, wire.DecodeError(res.Error)
	}
	// The contract has no Dialer.Close: free the plugin's dialer when this
	// one is garbage.
	runtime.AddCleanup(dl, dialerHandle.release, dialerHandle{rpc: g.rpc, id: res.Dialer})
	dl.gen, dl.id = g, res.Dialer
	return dl.id, nil
}

// dialerHandle names a dialer inside one plugin process.
type dialerHandle struct {
	rpc pb.PluginClient
	id  uint64
}

func (h dialerHandle) release() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, _ = h.rpc.CloseDialer(ctx, &pb.CloseDialerRequest{Dialer: h.id})
	}()
}

// Dial opens one connection through the plugin. While the plugin restarts
// it waits, bounded by ctx.
func (dl *remoteDialer) Dial(ctx context.Context, transport driver.Transport, address string) (driver.Conn, error) {
	if !slices.Contains(dl.d.transports, transport) {
		return nil, fmt.Errorf("plugins: %s: dial %s: %w: the driver offers %v", dl.d.info.Name, transport, driver.ErrNotSupported, dl.d.transports)
	}
	g, err := dl.d.p.current(ctx)
	if err != nil {
		return nil, err
	}
	id, err := dl.handle(ctx, g)
	if err != nil {
		return nil, err
	}
	return dialConn(ctx, dl.d, g, id, transport, address)
}

// callError turns a failed RPC into a GoneError when the process is gone
// (waiting a moment for it to be reaped, so the status is known), into
// ctx's error when ctx ended, and otherwise into an ErrBadConn error.
func (p *Plugin) callError(ctx context.Context, g *generation, err error) error {
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		// gRPC's own timer for the deadline can end the call a moment
		// before ctx's does: the deadline is the cause, not the plugin.
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		return fmt.Errorf("plugins: %s: %w", p.name, ctx.Err())
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-g.exited():
		return &GoneError{Plugin: p.name, Status: g.proc.status}
	case <-t.C:
		return &GoneError{Plugin: p.name, Status: "connection to the plugin lost", Err: err}
	}
}
