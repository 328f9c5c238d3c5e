package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"

	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/at"
	"github.com/iotd/iotd/drivers/serial"
)

// Info is what a modem says about itself during bring-up.
type Info struct {
	// Dialect is the dialect in use ("quectel").
	Dialect string
	// Model and Revision come from AT+CGMM/AT+CGMR (ESP-AT: AT+GMR).
	Model    string
	Revision string
}

// Modem is one AT modem: the engine on its port, the dialect, the bring-up
// state and the open sockets. Create it with [OpenModem] or [NewModem];
// all methods are safe for concurrent use.
//
// When the modem reboots on its own (a boot banner arrives), every open
// socket fails with a [*RebootError] and the modem is brought up again in
// the background; later Dials wait for that. When the port fails (unplugged)
// every socket fails with an error wrapping driver.ErrBadConn, and so does
// every later call: open a new Modem.
type Modem struct {
	cfg  Config
	d    Dialect
	t    Traits // d.Traits(), read once
	eng  *at.Engine
	log  *slog.Logger
	ctx  context.Context // ends when the modem closes
	stop context.CancelFunc
	wg   sync.WaitGroup
	upC  chan struct{} // held by the bring-up in progress
	tr   *tracer
	stat statusCache

	mu    sync.Mutex // guards the fields below
	socks map[int]*Socket
	info  Info
	gen   int // bumped by every reboot
	upGen int // gen of the last bring-up, -1 before the first
	upErr error
	dead  error // set when the port failed or Close was called
	built bool  // NewModem is done: banners before that are the power-on's
	// synced: the first bring-up got the line in step. A banner before
	// that is the power-on's (atsim and a module plugged in print it
	// before the port is opened) or a reboot before anything was set up;
	// the bring-up copes with either, and a second one would be wasted.
	synced bool
	closed bool
}

// OpenModem opens cfg.Port and brings the modem up with the named dialect
// (or Auto). It returns when the modem is ready for Dial, or with the
// bring-up's error (a [*SetupError] for the conditions it knows).
func OpenModem(ctx context.Context, dialectName string, cfg Config, log *slog.Logger) (*Modem, error) {
	if err := cfg.Validate("at"); err != nil {
		return nil, err
	}
	port, err := serial.Open(serial.Config{Name: cfg.Port, Baud: cfg.Baud})
	if err != nil {
		return nil, fmt.Errorf("at: %w", err)
	}
	m, err := NewModem(ctx, port, dialectName, cfg, log)
	if err != nil {
		port.Close()
		return nil, err
	}
	if err := m.up(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// NewModem starts a modem on port, which it owns from now on (Close closes
// it). With Auto it identifies the modem first, which is I/O bounded by
// ctx; otherwise it does no I/O: the first Dial (or [Modem.Up]) brings the
// modem up.
func NewModem(ctx context.Context, port io.ReadWriteCloser, dialectName string, cfg Config, log *slog.Logger) (*Modem, error) {
	return newModem(ctx, port, dialectName, cfg, log, nil)
}

// newModem is NewModem whose trace also goes to hub (nil for none).
func newModem(ctx context.Context, port io.ReadWriteCloser, dialectName string, cfg Config, log *slog.Logger, hub *traceHub) (*Modem, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := newTracer(cfg, log, hub)
	if dialectName == Auto {
		name, err := detect(ctx, port, log, tr.fn())
		if err != nil {
			return nil, err
		}
		dialectName = name
	}
	d, err := newDialect(dialectName)
	if err != nil {
		return nil, err
	}
	t := d.Traits()
	log = log.With("dialect", t.Name)
	m := &Modem{cfg: cfg, d: d, t: t, log: log, tr: tr, socks: map[int]*Socket{}, upGen: -1, upC: make(chan struct{}, 1)}
	m.info.Dialect = t.Name
	m.ctx, m.stop = context.WithCancel(context.Background())
	opts := at.Options{LineEnd: t.lineEnd(), Finals: t.Finals, Timeout: cfg.cmdTimeout(), Logger: log, Trace: tr.fn()}
	if t.NULBoot {
		opts.OnNULs = func() { m.rebooted("NUL bytes") }
	}
	m.eng = at.New(port, opts)
	// The reader may see a boot banner (OnNULs) before this function
	// returns; rebooted ignores it until the modem is built, and taking
	// m.mu here orders the fields above before anything it starts.
	defer func() {
		m.mu.Lock()
		m.built = true
		m.mu.Unlock()
	}()
	for _, b := range t.Banners {
		banner := b
		if err := m.eng.HandleURC(at.URC{Prefix: banner, Line: func(line string) int {
			if line == banner {
				m.rebooted(line)
			}
			return 0
		}}); err != nil {
			return nil, err
		}
	}
	for _, u := range d.URCs(m) {
		if err := m.eng.HandleURC(u); err != nil {
			return nil, err
		}
	}
	m.wg.Add(2)
	go m.watch()
	go m.watchStatus()
	return m, nil
}

// Engine returns the modem's command engine, for commands the dialects do
// not wrap (AT+CCLK?, AT+QNTP). Do not send socket commands through it.
func (m *Modem) Engine() *at.Engine { return m.eng }

// Info returns what the modem said about itself at the last bring-up.
func (m *Modem) Info() Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.info
}

// Up brings the modem up if it is not: after NewModem, or after a reboot
// or a failed bring-up. It returns at once when the modem is up.
func (m *Modem) Up(ctx context.Context) error { return m.up(ctx) }

// Signal reports the radio link's quality (AT+CSQ; ESP-AT: the joined
// access point's RSSI).
func (m *Modem) Signal(ctx context.Context) (driver.Signal, error) {
	if err := m.alive(); err != nil {
		return driver.Signal{}, err
	}
	if sg, ok := m.d.(Signaler); ok {
		return sg.Signal(ctx, m)
	}
	if m.t.Cellular {
		return CSQ(ctx, m)
	}
	return driver.Signal{}, fmt.Errorf("at.%s: signal: %w: the module reports none", m.t.Name, driver.ErrNotSupported)
}

// Close fails every open socket with an error wrapping driver.ErrBadConn, stops the engine and closes the port. It is
// idempotent.
func (m *Modem) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	if m.dead == nil {
		m.dead = errors.New("at: modem closed")
	}
	m.failAllLocked(errModemGone(m.dead))
	m.mu.Unlock()
	m.stop()
	err := m.eng.Close()
	m.wg.Wait()
	return err
}

// Done is closed when the modem can no longer work (closed, or its port
// failed); Err then says why.
func (m *Modem) Done() <-chan struct{} { return m.eng.Done() }

// Err returns why the modem stopped, or nil.
func (m *Modem) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dead
}

func (m *Modem) alive() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead != nil {
		return errModemGone(m.dead)
	}
	return nil
}

// watch fails everything when the engine stops (the port failed).
func (m *Modem) watch() {
	defer m.wg.Done()
	select {
	case <-m.ctx.Done():
	case <-m.eng.Done():
		err := m.eng.Err()
		m.log.Warn("at: the modem's port failed; its sockets are gone", "err", err)
		m.mu.Lock()
		if m.dead == nil {
			m.dead = err
		}
		m.failAllLocked(errModemGone(err))
		m.mu.Unlock()
	}
}

// rebooted runs on the reader goroutine when a boot banner arrives.
func (m *Modem) rebooted(banner string) {
	m.mu.Lock()
	if m.dead != nil || !m.built || !m.synced {
		m.mu.Unlock()
		return
	}
	m.gen++
	n := len(m.socks)
	m.failAllLocked(&RebootError{Banner: banner})
	m.mu.Unlock()
	// The command on the line and every two-phase result awaited died
	// with the module's state: fail them now rather than at their
	// timeouts (AT+QIOPEN waits 150 s), and resync before the next
	// command.
	m.eng.Interrupt(&RebootError{Banner: banner})
	lvl := slog.LevelWarn
	if n == 0 {
		lvl = slog.LevelInfo // also the power-on banner of a fresh modem
	}
	m.log.Log(m.ctx, lvl, "at: the modem (re)booted; bringing it up again", "banner", banner, "sockets_lost", n)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.up(m.ctx); err != nil && m.ctx.Err() == nil {
			m.log.Warn("at: bring-up after the reboot failed; the next dial tries again", "err", err)
		}
	}()
}

// failAllLocked fails and forgets every socket; m.mu is held.
func (m *Modem) failAllLocked(err error) {
	for id, s := range m.socks {
		s.failWith(err)
		delete(m.socks, id)
	}
}

// up runs the bring-up unless the modem is up in its current generation.
// Bring-ups are serialised; a reboot during one makes it run again.
func (m *Modem) up(ctx context.Context) error {
	select {
	case m.upC <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("at: waiting for the modem's bring-up: %w", ctx.Err())
	case <-m.ctx.Done():
		return m.alive()
	}
	defer func() { <-m.upC }()
	for range 3 {
		m.mu.Lock()
		gen, ok, dead := m.gen, m.upGen == m.gen && m.upErr == nil, m.dead
		m.mu.Unlock()
		if dead != nil {
			return errModemGone(dead)
		}
		if ok {
			return nil
		}
		info, err := m.bringUp(ctx)
		m.mu.Lock()
		m.upGen, m.upErr = gen, err
		if err == nil {
			m.info = info
		}
		again := m.gen != gen
		m.mu.Unlock()
		if !again {
			if err == nil {
				m.log.Info("at: modem up", "model", info.Model, "revision", info.Revision)
			}
			return err
		}
	}
	return errors.New("at: the modem keeps rebooting during bring-up: check its power supply")
}

// Do runs c on the modem's engine, with the configured command timeout
// when c has none. A command abandoned after a timeout leaves the engine
// out of step, and the engine resyncs before the next command by itself;
// a port that failed fails the modem (every later call wraps
// driver.ErrBadConn).
func (m *Modem) Do(ctx context.Context, c at.Command) (*at.Response, error) {
	if c.Timeout == 0 {
		c.Timeout = m.cfg.cmdTimeout()
	}
	r, err := m.eng.Do(ctx, c)
	if err != nil && (errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.ENODEV) || errors.Is(err, os.ErrClosed)) {
		// The port is gone (unplugged); the reader may not know yet.
		m.eng.Fail(fmt.Errorf("%w: %w", at.ErrClosed, err))
		return nil, errModemGone(err)
	}
	if errors.Is(err, at.ErrClosed) {
		return nil, errModemGone(err)
	}
	return r, err
}

// Bind registers s under id, so that the id's URCs reach it. A dialect
// whose module assigns ids (Limits.ModuleIDs) calls it in Open with the id
// the module gave; it fails when the modem rebooted since the dial began.
func (m *Modem) Bind(s *Socket, id int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead != nil {
		return errModemGone(m.dead)
	}
	if s.gen != m.gen {
		return &RebootError{Banner: "(during dial)"}
	}
	if old, ok := m.socks[id]; ok && old != s {
		old.failWith(fmt.Errorf("%w: the modem reused socket id %d", driver.ErrReset, id))
	}
	s.id = id
	m.socks[id] = s
	return nil
}

// unbind forgets s.
func (m *Modem) unbind(s *Socket) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.socks[s.id] == s {
		delete(m.socks, s.id)
	}
}

// sock returns the socket bound to id, or nil.
func (m *Modem) sock(id int) *Socket {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.socks[id]
}

// freeID returns the lowest id no socket holds.
func (m *Modem) freeID() (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.t.Limits.Sockets {
		if _, ok := m.socks[id]; !ok {
			return id, nil
		}
	}
	return 0, fmt.Errorf("at: all %d sockets of the modem are in use: close one first", m.t.Limits.Sockets)
}

// failAll fails every socket with err (the data path went down).
func (m *Modem) failAll(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failAllLocked(err)
}

// Readable reports that the module holds data for socket id (a "recv"
// URC): the socket pulls it with the dialect's Recv.
func (m *Modem) Readable(id int) {
	if s := m.sock(id); s != nil {
		s.markReadable()
	}
}

// RemoteClosed reports that the peer closed socket id: reads drain what
// the module holds, then return io.EOF (or reset, when not nil).
func (m *Modem) RemoteClosed(id int, reset error) {
	if s := m.sock(id); s != nil {
		s.markEOF(reset)
	}
}

// Pushed hands over data the module pushed unasked for socket id (a URC
// that carries the data, as ESP-AT's +IPD in active mode).
func (m *Modem) Pushed(id int, data []byte) {
	if s := m.sock(id); s != nil {
		s.push(data)
	}
}

// generation returns the current reboot generation.
func (m *Modem) generation() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}
