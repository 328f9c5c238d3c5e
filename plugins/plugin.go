package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/plugins/internal/wire"
	pb "github.com/iotd/iotd/plugins/proto"
)

// Options configure how a plugin is launched and supervised. The zero value
// works.
type Options struct {
	// SHA256 pins the binary: the hex SHA-256 of the file. When set, the
	// file is hashed before every launch (restarts included) and a
	// mismatch refuses to start it.
	SHA256 string
	// Logger receives the host's messages about the plugin and the
	// plugin's own logs, each with a "plugin" attribute. nil: slog.Default.
	Logger *slog.Logger
	// StartTimeout bounds one launch: start, handshake, Describe.
	// Default 30s.
	StartTimeout time.Duration
	// MinBackoff and MaxBackoff bound the jittered, doubling wait before a
	// restart after a crash. Defaults 100ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Env is the plugin's environment besides PATH, HOME, TMPDIR, TZ and
	// LANG, which it inherits. The rest of the host's environment (which
	// may hold secrets) is not passed on.
	Env []string
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	return o
}

// State is where a plugin is in its life.
type State string

const (
	// Running: a process is up and serving.
	Running State = "running"
	// Restarting: the process is gone and a new one is being started.
	Restarting State = "restarting"
	// Closed: Close was called; the plugin stays down.
	Closed State = "closed"
)

// Plugin is one plugin binary, run as a supervised child process. It is safe
// for concurrent use.
type Plugin struct {
	path string
	name string
	opts Options
	log  *slog.Logger

	drivers []*remoteDriver

	mu       sync.Mutex    // guards the fields below
	gen      *generation   // the current process; nil while restarting
	ready    chan struct{} // closed when gen is set again
	state    State
	restarts int
	killed   int // number of the generation Kill last killed

	closing chan struct{}      // closed by Close
	stop    context.CancelFunc // ends a launch under way, on Close
	life    context.Context    // the context restarts run in
	done    chan struct{}      // closed when the supervisor has stopped
}

// generation is one launched process.
type generation struct {
	n      int
	client *plugin.Client
	rpc    pb.PluginClient
	proc   *procRunner
	data   *dataListener
}

// stop ends the process (if it still runs) and its data listener.
func (g *generation) stop() {
	g.client.Kill() // releases go-plugin's goroutines and socket directory
	g.data.close()
}

// exited is closed when the generation's process has ended.
func (g *generation) exited() <-chan struct{} { return g.proc.exited }

// Load launches the plugin binary at path, checks its pin, handshakes, and
// learns its drivers. ctx bounds the first launch; the plugin then lives
// until Close and is restarted whenever it exits.
func Load(ctx context.Context, path string, opts Options) (*Plugin, error) {
	opts = opts.withDefaults()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("plugins: load %s: %w", path, err)
	}
	name := filepath.Base(abs)
	p := &Plugin{
		path:    abs,
		name:    name,
		opts:    opts,
		log:     opts.Logger.With("plugin", name),
		ready:   make(chan struct{}),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	p.life, p.stop = context.WithCancel(context.Background())
	g, desc, err := p.launch(ctx, 1)
	if err != nil {
		p.stop()
		return nil, err
	}
	for _, info := range desc.Drivers {
		p.drivers = append(p.drivers, newRemoteDriver(p, info))
	}
	p.gen, p.state = g, Running
	close(p.ready)
	p.log.Info("plugins: plugin started", "pid", g.proc.ID(), "drivers", p.driverNames(), "sdk", desc.SdkVersion)
	go p.supervise()
	return p, nil
}

// Name returns the plugin's name: its file name.
func (p *Plugin) Name() string { return p.name }

// Path returns the absolute path of the plugin binary.
func (p *Plugin) Path() string { return p.path }

// Drivers returns the drivers the plugin serves, in the order it declared
// them, named as it names them.
func (p *Plugin) Drivers() []driver.Driver {
	out := make([]driver.Driver, len(p.drivers))
	for i, d := range p.drivers {
		out[i] = d
	}
	return out
}

func (p *Plugin) driverNames() []string {
	var names []string
	for _, d := range p.drivers {
		names = append(names, d.info.Name)
	}
	return names
}

// State returns the plugin's state.
func (p *Plugin) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Restarts returns how many times the plugin has been restarted.
func (p *Plugin) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// PID returns the process id of the running plugin, or 0.
func (p *Plugin) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gen == nil || p.gen.proc.cmd.Process == nil {
		return 0
	}
	return p.gen.proc.cmd.Process.Pid
}

// Kill kills the running plugin process abruptly (SIGKILL), as a crash
// would, and returns once the process is gone; the plugin is then restarted
// as after any crash. It is meant for tests and the conformance suite's
// lifecycle cases (with Restarted, it implements conformance.Lifecycle).
func (p *Plugin) Kill() error {
	p.mu.Lock()
	g := p.gen
	if g != nil {
		p.killed = g.n
	}
	p.mu.Unlock()
	if g == nil {
		return errors.New("plugins: kill: no plugin process is running")
	}
	if err := g.proc.Kill(context.Background()); err != nil {
		return fmt.Errorf("plugins: kill %s: %w", p.name, err)
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-g.exited():
		return nil
	case <-t.C:
		return fmt.Errorf("plugins: kill %s: the process did not exit within 10s", p.name)
	}
}

// Restarted returns nil once the plugin runs in a process started after the
// last Kill (at once if there was no Kill and it runs), or ctx's error.
func (p *Plugin) Restarted(ctx context.Context) error {
	for {
		p.mu.Lock()
		g, ready, state, killed := p.gen, p.ready, p.state, p.killed
		p.mu.Unlock()
		if state == Closed {
			return errors.New("plugins: restarted: the plugin is closed")
		}
		var wait <-chan struct{} = ready
		if g != nil {
			if g.n > killed && !isClosed(g.exited()) {
				return nil
			}
			wait = g.exited() // then the supervisor replaces gen
		}
		select {
		case <-wait:
			time.Sleep(time.Millisecond) // let the supervisor take the lock
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the plugin: connections and dials through it fail with a
// GoneError, the process is asked to exit and killed if it does not within
// two seconds, and it is not restarted. Close waits for all of that.
func (p *Plugin) Close() error {
	p.mu.Lock()
	if p.state == Closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.state = Closed
	close(p.closing)
	p.stop()
	p.mu.Unlock()
	<-p.done
	return nil
}

// current returns the running generation, waiting (bounded by ctx) while
// the plugin restarts.
func (p *Plugin) current(ctx context.Context) (*generation, error) {
	for {
		p.mu.Lock()
		g, ready, state := p.gen, p.ready, p.state
		p.mu.Unlock()
		if state == Closed {
			return nil, &GoneError{Plugin: p.name, Status: "closed"}
		}
		var wait <-chan struct{} = ready
		status := "restarting"
		if g != nil {
			if !isClosed(g.exited()) {
				return g, nil
			}
			wait, status = nil, g.proc.status // the supervisor is about to replace gen
		}
		if wait == nil {
			t := time.NewTimer(time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, &GoneError{Plugin: p.name, Status: status, Err: ctx.Err()}
			}
			continue
		}
		select {
		case <-wait:
		case <-p.closing:
		case <-ctx.Done():
			return nil, &GoneError{Plugin: p.name, Status: status, Err: ctx.Err()}
		}
	}
}

// supervise restarts the plugin whenever its process exits, until Close.
func (p *Plugin) supervise() {
	defer close(p.done)
	p.mu.Lock()
	g := p.gen
	p.mu.Unlock()
	backoff := p.opts.MinBackoff
	for {
		select {
		case <-p.closing:
			g.stop()
			return
		case <-g.exited():
		}
		g.stop()
		p.log.Warn("plugins: plugin exited; restarting", "status", g.proc.status)
		p.mu.Lock()
		p.gen, p.ready = nil, make(chan struct{})
		if p.state != Closed {
			p.state = Restarting
		}
		p.mu.Unlock()
		next := g.n + 1
		for {
			// full jitter in [backoff/2, backoff]
			wait := backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, p.opts.MaxBackoff)
			t := time.NewTimer(wait)
			select {
			case <-p.closing:
				t.Stop()
				p.mu.Lock()
				close(p.ready)
				p.mu.Unlock()
				return
			case <-t.C:
			}
			ng, desc, err := p.launch(p.life, next)
			if err != nil {
				p.log.Error("plugins: restart failed; will retry", "err", err, "retry_in", backoff)
				continue
			}
			p.checkDrivers(desc)
			g = ng
			break
		}
		p.mu.Lock()
		p.gen, p.restarts = g, p.restarts+1
		if p.state != Closed {
			p.state = Running
		}
		close(p.ready)
		p.mu.Unlock()
		p.log.Info("plugins: plugin restarted", "pid", g.proc.ID(), "restarts", p.Restarts())
		// A process that stays up a while earns the shortest backoff again.
		stable := time.NewTimer(10 * p.opts.MinBackoff)
		select {
		case <-stable.C:
			backoff = p.opts.MinBackoff
		case <-g.exited():
		case <-p.closing:
		}
		stable.Stop()
	}
}

// checkDrivers warns when a restarted plugin serves other drivers than
// before (the binary was replaced under us); the registered set stays.
func (p *Plugin) checkDrivers(desc *pb.DescribeResponse) {
	var names []string
	for _, d := range desc.Drivers {
		names = append(names, d.Name)
	}
	if strings.Join(names, ",") != strings.Join(p.driverNames(), ",") {
		p.log.Warn("plugins: the restarted plugin serves other drivers than at load; restart iotd to pick them up",
			"before", p.driverNames(), "now", names)
	}
}

// launch starts one process, verifies the pin first, and describes it.
func (p *Plugin) launch(ctx context.Context, n int) (*generation, *pb.DescribeResponse, error) {
	if err := p.verify(); err != nil {
		return nil, nil, err
	}
	var proc *procRunner
	var sockDir string
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.Plugins(nil),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     p.opts.StartTimeout,
		Logger:           newHCLogger(p.log),
		Stderr:           io.Discard,
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(wire.MaxMessage), grpc.MaxCallSendMsgSize(wire.MaxMessage))},
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, dir string) (runner.Runner, error) {
			sockDir = dir
			var err error
			proc, err = newProcRunner(p.path, p.name, p.env(spec.Env), p.log)
			return proc, err
		},
	})
	fail := func(err error) (*generation, *pb.DescribeResponse, error) {
		client.Kill()
		return nil, nil, fmt.Errorf("plugins: start %s: %w", p.name, err)
	}
	// go-plugin's handshake wait knows only StartTimeout; killing the
	// client ends it when ctx ends first.
	stop := context.AfterFunc(ctx, client.Kill)
	cp, err := client.Client()
	if !stop() {
		return fail(ctx.Err())
	}
	if err != nil {
		return fail(versionError(err))
	}
	raw, err := cp.Dispense(wire.PluginName)
	if err != nil {
		return fail(err)
	}
	rpc, ok := raw.(pb.PluginClient)
	if !ok {
		return fail(fmt.Errorf("dispensed %T, not a driver plugin client", raw))
	}
	dctx, cancel := context.WithTimeout(ctx, p.opts.StartTimeout)
	defer cancel()
	desc, err := rpc.Describe(dctx, &pb.DescribeRequest{})
	if err != nil {
		return fail(fmt.Errorf("describe: %w", err))
	}
	if len(desc.Drivers) == 0 {
		return fail(errors.New("the plugin serves no drivers"))
	}
	data, err := listenData(sockDir)
	if err != nil {
		return fail(fmt.Errorf("data channel: %w", err))
	}
	return &generation{n: n, client: client, rpc: rpc, proc: proc, data: data}, desc, nil
}

// versionError names the protocol versions when go-plugin refused the
// plugin for speaking another one.
func versionError(err error) error {
	if !strings.Contains(err.Error(), "incompatible API version") {
		return err
	}
	return fmt.Errorf("%w: %w", ErrProtocolVersion, err)
}

// env is the plugin's environment: go-plugin's variables (spec), a few
// harmless ones of the host's, and Options.Env.
func (p *Plugin) env(spec []string) []string {
	env := append([]string(nil), spec...)
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, p.opts.Env...)
}

// verify checks the binary against Options.SHA256.
func (p *Plugin) verify() error {
	if p.opts.SHA256 == "" {
		return nil
	}
	want := strings.ToLower(strings.TrimSpace(p.opts.SHA256))
	f, err := os.Open(p.path)
	if err != nil {
		return fmt.Errorf("plugins: verify %s: %w", p.name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("plugins: verify %s: %w", p.name, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != want {
		return fmt.Errorf("plugins: refusing to start %s: its SHA-256 is %s but the pin is %s; install the pinned binary or update the pin", p.path, got, want)
	}
	return nil
}
