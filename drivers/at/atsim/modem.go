package atsim

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/iotd/iotd/internal/rawpty"
)

// maxOutQueue bounds output waiting for the pty: socket readers in push
// mode wait while more is queued, as a module's buffers fill when the host
// does not read.
const maxOutQueue = 64 << 10

// Modem is a running simulated modem. Its methods are safe for concurrent
// use.
type Modem struct {
	cfg    Config
	log    *slog.Logger
	master *os.File
	slave  *os.File // kept open so the master never sees EIO
	path   string
	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	d      dialect

	mu   sync.Mutex
	cond *sync.Cond // signalled when output drains, socket data is read, or state resets
	rng  *rand.Rand
	// output waiting for the writer
	out    [][]byte
	outLen int
	outCh  chan struct{} // cap 1: output queued
	// outSince is when output was queued to an empty queue, until the
	// writer takes it.
	outSince time.Time
	// inAt is when the input being interpreted started on the line.
	inAt  time.Time
	fault faults
	// stallUntil: no input is taken and no output sent before it.
	stallUntil time.Time
	closed     bool
	gen        int // incremented by every reboot
	stats      Stats
	cmdLog     []string

	// power-on state (reset by a reboot)
	echo     bool
	cmee     int
	sim      SIMState
	reg      RegState
	signal   int
	cfun     int
	regURC   map[string]int // "+CREG" → n of AT+CREG=n
	pdp      map[int]*pdpCtx
	socks    map[int]*sock
	lastErr  int // last socket error number (QIGETERROR, USOER)
	data     *dataMode
	line     []byte
	afterCR  bool
	promptAt time.Time
}

// pdpCtx is a PDP context as AT+CGDCONT/QICSGP define it.
type pdpCtx struct {
	apn    string
	active bool
	ip     string
}

// dataMode is the module waiting for the bytes after a prompt.
type dataMode struct {
	need int    // bytes wanted; -1: until Ctrl-Z (ESC cancels)
	max  int    // limit for Ctrl-Z mode
	buf  []byte // received so far
	// done is called with the data (nil when cancelled), m.mu held.
	done func(data []byte) reply
	// guard: bytes arriving before it are dropped (u-blox's 50 ms).
	guard time.Time
}

// Start opens a pty and starts serving the dialect on it. The modem prints
// its boot banner at once. ctx ends the modem like Close does. Close
// must be called in any case to release the pty.
func Start(ctx context.Context, cfg Config) (*Modem, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.PIN == "" {
		cfg.PIN = DefaultPIN
	}
	if cfg.Signal == 0 {
		cfg.Signal = 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	master, slave, path, err := rawpty.Open()
	if err != nil {
		return nil, fmt.Errorf("atsim: %w", err)
	}
	mctx, cancel := context.WithCancel(ctx)
	m := &Modem{
		cfg: cfg, log: log.With("dialect", cfg.Dialect), master: master, slave: slave, path: path,
		ctx: mctx, cancel: cancel,
		rng:    rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(cfg.Seed)^0x9e3779b97f4a7c15)),
		outCh:  make(chan struct{}, 1),
		sim:    cfg.SIM,
		reg:    cfg.Reg,
		signal: cfg.Signal,
	}
	m.cond = sync.NewCond(&m.mu)
	m.d = newDialect(cfg.Dialect, m)
	m.mu.Lock()
	m.powerOnLocked()
	for _, f := range cfg.Faults {
		m.injectLocked(f)
	}
	m.mu.Unlock()
	m.wg.Add(3)
	go m.readLoop()
	go m.writeLoop()
	go func() {
		defer m.wg.Done()
		<-mctx.Done()
		m.shutdown()
	}()
	m.log.Debug("atsim: modem started", "path", path)
	return m, nil
}

// Path is the pty slave ("/dev/pts/N") a driver opens as its serial port.
func (m *Modem) Path() string { return m.path }

// Dialect is the dialect served.
func (m *Modem) Dialect() string { return m.cfg.Dialect }

// Done is closed when the modem has stopped.
func (m *Modem) Done() <-chan struct{} { return m.ctx.Done() }

// Close stops the modem: sockets are closed, the pty is released, and all
// goroutines have returned when it returns. It is idempotent.
func (m *Modem) Close() error {
	m.cancel()
	m.wg.Wait()
	return nil
}

// shutdown runs once, when ctx ends.
func (m *Modem) shutdown() {
	m.mu.Lock()
	m.closed = true
	m.dropSocketsLocked()
	m.cond.Broadcast()
	m.mu.Unlock()
	m.master.Close()
	m.slave.Close()
	select {
	case m.outCh <- struct{}{}:
	default:
	}
}

// powerOnLocked sets the power-on state and queues the boot banner.
func (m *Modem) powerOnLocked() {
	m.echo = true
	m.cmee = 0
	m.cfun = 1
	m.regURC = map[string]int{}
	m.pdp = map[int]*pdpCtx{}
	m.socks = map[int]*sock{}
	m.lastErr = 0
	m.data = nil
	m.line = m.line[:0]
	m.d.reset()
	for _, b := range m.d.banner() {
		m.emitLocked(b)
	}
}

// rebootLocked is a module reset: sockets dropped, state reset, banner.
// Output already queued still goes out (it is in the UART's FIFO).
func (m *Modem) rebootLocked() {
	if m.closed {
		return
	}
	m.gen++
	m.stats.Reboots++
	m.dropSocketsLocked()
	if m.cfg.SIM == SIMPIN && m.sim == SIMReady {
		// a PIN entered before the reboot is asked again
		m.sim = SIMPIN
	}
	m.log.Debug("atsim: reboot")
	m.powerOnLocked()
	m.cond.Broadcast()
}

// Reboot reboots the module (as Inject(Fault{Kind: Reboot})).
func (m *Modem) Reboot() { _ = m.Inject(Fault{Kind: Reboot}) }

// SetSignal sets the +CSQ rssi (0..31, 99).
func (m *Modem) SetSignal(rssi int) {
	m.mu.Lock()
	m.signal = rssi
	m.mu.Unlock()
}

// SetRegistration sets the registration state; when a registration URC
// is enabled (AT+CREG=1 etc.) and the state changes, the URC is sent.
func (m *Modem) SetRegistration(r RegState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r == m.reg {
		return
	}
	m.reg = r
	for _, p := range []string{"+CREG", "+CGREG", "+CEREG"} {
		if m.regURC[p] > 0 {
			m.urcLocked(fmt.Sprintf("%s: %d", p, r.stat()))
		}
	}
}

// SetSIM sets the SIM state (a SIM pulled or inserted).
func (m *Modem) SetSIM(s SIMState) {
	m.mu.Lock()
	m.sim = s
	m.mu.Unlock()
}

// unlocked runs f with m.mu released (a dial or a socket write); it
// reports false when the module rebooted or closed meanwhile, in which
// case the caller must drop what it was doing.
func (m *Modem) unlocked(f func()) bool {
	gen := m.gen
	m.mu.Unlock()
	f()
	m.mu.Lock()
	return gen == m.gen && !m.closed
}

// goAsync runs f in a goroutine that Close waits for; f gets m.mu held
// only if it takes it itself.
func (m *Modem) goAsync(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}
