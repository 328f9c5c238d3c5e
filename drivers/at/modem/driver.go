package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/serial"
)

// Driver is an AT modem driver: "at.esp", "at.quectel", "at.simcom",
// "at.ublox", or "at" (the dialect detected from the modem's
// identification). Its config is a JSON [Config]. Stream and datagram
// sockets go through the modem's own TCP/IP stack; TLS runs on the host over
// a stream socket (see the package documentation).
//
// Dialers opened on the same port share one [Modem]; it stays open while
// any of them does (a Dialer is an io.Closer) and is re-opened by the next
// Dial after its port failed.
type Driver struct {
	dialect string
	// ProbePort, when set, is the only port Probe looks at; otherwise
	// Probe asks every serial port of the host.
	ProbePort string
	// Logger receives the modems' logs; nil means the one SetLogger
	// gave, else none.
	Logger *slog.Logger
	given  atomic.Pointer[slog.Logger]

	mu     sync.Mutex
	modems map[string]*shared // by port
	traces traceHub
}

type shared struct {
	m    *Modem
	refs int
}

// NewDriver returns the driver for a registered dialect's name, or for
// [Auto].
func NewDriver(dialectName string) (*Driver, error) {
	if dialectName != Auto {
		if _, err := newDialect(dialectName); err != nil {
			return nil, err
		}
	}
	return &Driver{dialect: dialectName, modems: map[string]*shared{}}, nil
}

// Name is "at.<dialect>", or "at" for auto-detection.
func (d *Driver) Name() string {
	if d.dialect == Auto {
		return "at"
	}
	return "at." + d.dialect
}

// Transports are stream (TCP) and datagram (UDP) sockets of the modem.
func (d *Driver) Transports() []driver.Transport {
	return []driver.Transport{driver.Stream, driver.Datagram}
}

func (d *Driver) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	if l := d.given.Load(); l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// SetLogger makes the modems opened from now on log to l (see
// driver.LogReceiver).
func (d *Driver) SetLogger(l *slog.Logger) { d.given.Store(l) }

// Probe looks for a modem of the driver's dialect: on ProbePort when set,
// else on every serial port of the host that no open Modem holds. It
// returns nil when one answers, an error wrapping driver.ErrSkip when there
// is no port or none answers as this dialect.
func (d *Driver) Probe(ctx context.Context) error {
	d.mu.Lock()
	for _, sh := range d.modems {
		if sh.m.Err() == nil {
			d.mu.Unlock()
			return nil
		}
	}
	d.mu.Unlock()
	_, err := d.findPort(ctx)
	return err
}

// findPort returns the first port on which a modem of the driver's dialect
// answers.
func (d *Driver) findPort(ctx context.Context) (string, error) {
	var paths []string
	if d.ProbePort != "" {
		paths = []string{d.ProbePort}
	} else {
		ports, err := serial.List()
		if errors.Is(err, serial.ErrNoDiscovery) {
			return "", fmt.Errorf("%s: probe: %w: %w", d.Name(), driver.ErrSkip, err)
		}
		if err != nil {
			return "", fmt.Errorf("%s: probe: listing serial ports: %w", d.Name(), err)
		}
		for _, p := range ports {
			paths = append(paths, p.Path)
		}
	}
	if len(paths) == 0 {
		return "", fmt.Errorf("%s: probe: %w: no serial ports (set \"port\" in the driver config if the modem is elsewhere)", d.Name(), driver.ErrSkip)
	}
	var seen []string
	for _, p := range paths {
		name, err := identify(ctx, p, d.logger())
		if ctx.Err() != nil {
			return "", fmt.Errorf("%s: probe: %w", d.Name(), ctx.Err())
		}
		if err != nil {
			seen = append(seen, p+": "+err.Error())
			continue
		}
		if d.dialect == Auto || name == d.dialect {
			return p, nil
		}
		seen = append(seen, p+": a "+name+" modem")
	}
	return "", fmt.Errorf("%s: probe: %w: no %s modem answered (%s)", d.Name(), driver.ErrSkip, d.dialect, strings.Join(seen, "; "))
}

// identified caches what identify found per port for a while, so that
// probing the five AT drivers asks each port once, not five times.
var identified = struct {
	sync.Mutex
	m map[string]identity
}{m: map[string]identity{}}

type identity struct {
	dialect string
	err     error
	at      time.Time
}

const identifyTTL = 30 * time.Second

// identify opens path briefly and returns the dialect of the modem on it.
func identify(ctx context.Context, path string, log *slog.Logger) (string, error) {
	identified.Lock()
	defer identified.Unlock()
	if id, ok := identified.m[path]; ok && time.Since(id.at) < identifyTTL {
		return id.dialect, id.err
	}
	port, err := serial.Open(serial.Config{Name: path})
	if err != nil {
		return "", err
	}
	defer port.Close()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	name, err := detect(dctx, port, log, nil)
	if ctx.Err() == nil {
		identified.m[path] = identity{dialect: name, err: err, at: time.Now()}
	}
	return name, err
}

// Open parses config (a JSON [Config]) and returns a Dialer. It does no
// I/O: the port is opened and the modem brought up by the first Dial.
func (d *Driver) Open(config []byte) (driver.Dialer, error) {
	c, err := decodeConfig(d.Name(), config)
	if err != nil {
		return nil, err
	}
	return &Dialer{d: d, cfg: c}, nil
}

// Dialer dials through one modem. Close releases the modem.
type Dialer struct {
	d   *Driver
	cfg Config

	mu     sync.Mutex
	m      *Modem
	closed bool
}

// Dial opens a socket through the modem, opening the port and bringing the
// modem up first when needed.
func (dl *Dialer) Dial(ctx context.Context, t driver.Transport, address string) (driver.Conn, error) {
	m, err := dl.modem(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: dial %s: %w", dl.d.Name(), address, err)
	}
	return m.Dial(ctx, t, address)
}

// Modem returns the dialer's modem, opening it if needed (without bringing
// it up).
func (dl *Dialer) Modem(ctx context.Context) (*Modem, error) { return dl.modem(ctx) }

// Version is the firmware revision of the dialer's modem, "" before it
// was brought up.
func (dl *Dialer) Version() string {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if dl.m == nil {
		return ""
	}
	return dl.m.Info().Revision
}

func (dl *Dialer) modem(ctx context.Context) (*Modem, error) {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if dl.closed {
		return nil, errors.New("the dialer is closed")
	}
	if dl.m != nil && dl.m.Err() == nil {
		return dl.m, nil
	}
	if dl.m != nil {
		dl.d.release(dl.cfg.Port, dl.m)
		dl.m = nil
	}
	cfg := dl.cfg
	if cfg.Port == "" {
		p, err := dl.d.findPort(ctx)
		if err != nil {
			return nil, fmt.Errorf("no \"port\" configured and none found: %w", err)
		}
		cfg.Port = p
		dl.cfg.Port = p
	}
	m, err := dl.d.acquire(ctx, cfg)
	if err != nil {
		return nil, err
	}
	dl.m = m
	return m, nil
}

// Close releases the modem; the last Dialer of a port closes it, which
// fails the sockets still open on it.
func (dl *Dialer) Close() error {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if dl.closed {
		return nil
	}
	dl.closed = true
	if dl.m != nil {
		dl.d.release(dl.cfg.Port, dl.m)
		dl.m = nil
	}
	return nil
}

func (d *Driver) acquire(ctx context.Context, cfg Config) (*Modem, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if sh, ok := d.modems[cfg.Port]; ok && sh.m.Err() == nil {
		sh.refs++
		return sh.m, nil
	}
	port, err := serial.Open(serial.Config{Name: cfg.Port, Baud: cfg.Baud})
	if err != nil {
		return nil, err
	}
	m, err := newModem(ctx, port, d.dialect, cfg, d.logger().With("driver", d.Name(), "port", cfg.Port), &d.traces)
	if err != nil {
		port.Close()
		return nil, err
	}
	if sh, ok := d.modems[cfg.Port]; ok {
		sh.m.Close()
	}
	d.modems[cfg.Port] = &shared{m: m, refs: 1}
	return m, nil
}

func (d *Driver) release(port string, m *Modem) {
	d.mu.Lock()
	sh, ok := d.modems[port]
	if !ok || sh.m != m {
		d.mu.Unlock()
		m.Close()
		return
	}
	sh.refs--
	if sh.refs > 0 {
		d.mu.Unlock()
		return
	}
	delete(d.modems, port)
	d.mu.Unlock()
	m.Close()
}

var (
	_ driver.Driver      = (*Driver)(nil)
	_ driver.Dialer      = (*Dialer)(nil)
	_ driver.LogReceiver = (*Driver)(nil)
)

// Version describes the modem this driver has open (model, firmware
// revision, port), for `iotd drivers`; "" when it has none open.
func (d *Driver) Version() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ports := slices.Sorted(maps.Keys(d.modems))
	for _, port := range ports {
		m := d.modems[port].m
		if m.Err() != nil {
			continue
		}
		if i := m.Info(); i.Model != "" {
			return strings.TrimSpace(fmt.Sprintf("%s %s on %s", i.Model, i.Revision, port))
		}
	}
	return ""
}
