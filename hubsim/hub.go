package hubsim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/internal/pki"
)

// Default listen addresses.
const (
	DefaultTLSAddr   = "127.0.0.1:8883"
	DefaultTCPAddr   = "127.0.0.1:1883"
	DefaultAdminAddr = "127.0.0.1:8080"
	DefaultStateDir  = ".hubsim"
	// Off disables a listener when given as its address.
	Off = "-"
)

// Config configures a Hub. The zero value works: state in ./.hubsim, the
// default addresses, the system clock, slog.Default.
type Config struct {
	// StateDir holds the CA, the broker certificate and the registry.
	StateDir string
	// TLSAddr, TCPAddr and AdminAddr are listen addresses; port 0 picks a
	// free port; Off ("-") disables the listener.
	TLSAddr, TCPAddr, AdminAddr string
	// Now is the hub clock (username expiry, $sys time); nil means time.Now.
	Now func() time.Time
	// Logger receives the hub's log; nil means slog.Default.
	Logger *slog.Logger
	// Services are started after the built-in ones.
	Services []Service

	// WSAddr and WSSAddr are the listen addresses of MQTT over WebSocket,
	// plain (ws://, the hub's port 80) and inside TLS (wss://, its port
	// 443; a client certificate is optional, as on TLSAddr). Any request
	// path is served; the client must offer subprotocol "mqtt". Empty or
	// Off means off: these are opt-in, in cmd/hubsim too. Port 0 picks a
	// free port.
	WSAddr, WSSAddr string

	// CoAPAddr is the UDP listen address of CoAP over DTLS (PSK), the
	// hub's port 5684 (PROTOCOL.md §4). Unlike the addresses above, empty
	// means off, so that no test binds a fixed port: cmd/hubsim passes
	// DefaultCoAPAddr. Port 0 picks a free port; Off disables it too.
	CoAPAddr string
	// CoAPPlainAddr is the UDP listen address of plain CoAP (the SDK's
	// NOTLS builds); empty or Off means off.
	CoAPPlainAddr string
	// CoAPTokenTTL is how long a CoAP auth token stays valid (hub clock);
	// 0 means DefaultCoAPTokenTTL.
	CoAPTokenTTL time.Duration
	// CoAPSeparate answers accepted CoAP publishes with an ACK 2.03 and,
	// when the device asked for a response, a separate CON 2.05 later,
	// instead of a piggy-backed 2.05. [CoAPService.SetSeparate] changes it
	// at run time.
	CoAPSeparate bool
	// CoAPIdleTimeout closes a CoAP session (DTLS connection or plain
	// peer) that sent nothing for this long; 0 means
	// DefaultCoAPIdleTimeout.
	CoAPIdleTimeout time.Duration

	// MaxPayload is the largest MQTT publish payload, in bytes, a device
	// may send; a larger one closes its connection. 0 means
	// DefaultMaxPayload (the hub's 16 KiB); negative means no limit.
	MaxPayload int
	// PublishRate is how many publishes per second a device may send on
	// average, enforced with a token bucket per client id that survives
	// reconnects; exceeding it closes the connection. 0 means
	// DefaultPublishRate; negative means no limit. It is measured on the
	// real (monotonic) clock, not Now.
	PublishRate float64
	// PublishBurst is the bucket's size: how many publishes a device may
	// send back to back. 0 means two seconds' worth of PublishRate (at
	// least 1).
	PublishBurst int

	// MessageLog is how many messages the hub keeps per device (the ring
	// GET /devices/{pid}/{dn}/messages returns). 0 means 256; negative
	// keeps none, for a fleet of thousands of devices whose messages no one
	// reads. The ring grows as messages arrive, up to this size.
	MessageLog int

	// WriteQueue is how many publishes to one connection may wait to be
	// written (mochi's MaximumClientWritesPending) before the broker drops
	// the next ones for that device, counted as dropped. 0 (or negative) means 256 (mochi's
	// own default, 8192, costs a 64 KiB channel per connection: most of
	// hubsim's memory per device in a fleet of thousands).
	WriteQueue int
}

// defaultWriteQueue is [Config.WriteQueue]'s default.
const defaultWriteQueue = 256

func (c Config) withDefaults() Config {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.StateDir, DefaultStateDir)
	def(&c.TLSAddr, DefaultTLSAddr)
	def(&c.TCPAddr, DefaultTCPAddr)
	def(&c.AdminAddr, DefaultAdminAddr)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.PublishRate == 0 {
		c.PublishRate = DefaultPublishRate
	}
	if c.PublishBurst <= 0 && c.PublishRate > 0 {
		c.PublishBurst = max(1, int(math.Ceil(2*c.PublishRate)))
	}
	return c
}

// Hub is a running emulator: an MQTT broker with the hub's authentication,
// ACL and services, and an admin HTTP API.
type Hub struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	store   *Store
	ca      *pki.Pair
	broker  *mqtt.Server
	tracker *tracker
	limiter *limiter
	admin   *http.ServeMux
	state   *State

	tlsL, tcpL *tcpListener
	wsL, wssL  *wsListener
	adminLn    net.Listener
	adminSrv   *http.Server

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.RWMutex // guards routes, aclRules, presence, active, services
	routes   []route
	aclRules []ACLRule
	presence []func(DeviceRef) bool
	active   map[string]*mqtt.Client // connected session per client id
	services []Service               // started, in order; nil once closing

	closeOnce sync.Once
	closeErr  error
}

// Start opens the state directory, starts the broker, the services and the
// admin API, and returns when they accept connections. The hub stops when
// ctx ends or Close is called.
func Start(ctx context.Context, cfg Config) (*Hub, error) {
	cfg = cfg.withDefaults()
	st, err := OpenState(cfg.StateDir, cfg.Now)
	if err != nil {
		return nil, err
	}
	h := &Hub{cfg: cfg, log: cfg.Logger, now: cfg.Now, tracker: newTracker(), admin: http.NewServeMux(),
		state: st, store: st.Store, ca: st.CA, active: map[string]*mqtt.Client{},
		limiter: newLimiter(cfg.PublishRate, cfg.PublishBurst, time.Now)}
	h.tracker.ringSize = cfg.MessageLog
	h.ctx, h.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			_ = h.Close()
		}
	}()

	caps := mqtt.NewDefaultServerCapabilities()
	caps.RetainAvailable = 0 // the hub keeps no retained messages
	caps.MaximumClientWritesPending = defaultWriteQueue
	if cfg.WriteQueue > 0 {
		caps.MaximumClientWritesPending = int32(min(cfg.WriteQueue, 1<<24))
	}
	h.broker = mqtt.New(&mqtt.Options{
		InlineClient: true,
		Capabilities: caps,
		// mochi's own log repeats what the hook logs; keep its errors only.
		Logger: slog.New(levelFilter{h: cfg.Logger.Handler(), min: slog.LevelError}),
	})
	if err := h.broker.AddHook(&hook{h: h}, nil); err != nil {
		return nil, fmt.Errorf("hubsim: %w", err)
	}
	if cfg.TLSAddr != Off {
		h.tlsL = newTCPListener(listeners.Config{ID: "tls", Address: cfg.TLSAddr, TLSConfig: serverTLSConfig(st.Server, h.ca)})
		if err := h.broker.AddListener(h.tlsL); err != nil {
			return nil, fmt.Errorf("hubsim: TLS listener %s: %w", cfg.TLSAddr, err)
		}
	}
	if cfg.TCPAddr != Off {
		h.tcpL = newTCPListener(listeners.Config{ID: "tcp", Address: cfg.TCPAddr})
		if err := h.broker.AddListener(h.tcpL); err != nil {
			return nil, fmt.Errorf("hubsim: TCP listener %s: %w", cfg.TCPAddr, err)
		}
	}
	if cfg.WSAddr != "" && cfg.WSAddr != Off {
		h.wsL = newWSListener("ws", cfg.WSAddr, nil)
		if err := h.broker.AddListener(h.wsL); err != nil {
			return nil, fmt.Errorf("hubsim: WebSocket listener %s: %w", cfg.WSAddr, err)
		}
	}
	if cfg.WSSAddr != "" && cfg.WSSAddr != Off {
		h.wssL = newWSListener("wss", cfg.WSSAddr, serverTLSConfig(st.Server, h.ca))
		if err := h.broker.AddListener(h.wssL); err != nil {
			return nil, fmt.Errorf("hubsim: WebSocket TLS listener %s: %w", cfg.WSSAddr, err)
		}
	}

	h.mountAdmin()
	services := append(builtinServices(), cfg.Services...)
	for _, s := range services {
		if err := s.Start(h.ctx, h); err != nil {
			return nil, fmt.Errorf("hubsim: start service %s: %w", s.Name(), err)
		}
		h.mu.Lock()
		h.services = append(h.services, s)
		h.mu.Unlock()
	}

	if err := h.broker.Serve(); err != nil {
		return nil, fmt.Errorf("hubsim: broker: %w", err)
	}
	if cfg.AdminAddr != Off {
		if h.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return nil, fmt.Errorf("hubsim: admin listener %s: %w", cfg.AdminAddr, err)
		}
		h.adminSrv = &http.Server{Handler: h.admin, ReadHeaderTimeout: 10 * time.Second}
		ln := h.adminLn
		h.Go(func(context.Context) {
			if err := h.adminSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				h.log.Error("admin API stopped", "error", err)
			}
		})
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		select {
		case <-ctx.Done():
			go h.Close() // Close waits for this goroutine
		case <-h.ctx.Done():
		}
	}()

	ok = true
	lim := h.Limits()
	h.log.Info("hubsim started", "tls", h.TLSAddr(), "tcp", h.TCPAddr(), "ws", h.WSAddr(), "wss", h.WSSAddr(), "admin", h.AdminURL(),
		"state", cfg.StateDir, "ca", h.CAFile(),
		"max_payload", lim.MaxPayload, "publish_rate", lim.PublishRate, "publish_burst", lim.PublishBurst)
	return h, nil
}

// disconnectAll closes every client's connection; it is the listeners'
// close hook. It does not send DISCONNECT, as mochi's own shutdown would:
// in MQTT 3.1.1 only a client sends that packet.
func (h *Hub) disconnectAll(string) {
	for _, cl := range h.broker.Clients.GetAll() {
		if !cl.Net.Inline && !cl.Closed() {
			cl.Stop(packets.ErrServerShuttingDown)
		}
	}
}

// Close stops the admin API, disconnects every client, stops the services
// and releases the state directory. It is safe to call more than once.
func (h *Hub) Close() error {
	h.closeOnce.Do(func() {
		h.cancel()
		h.mu.Lock()
		h.services = nil
		h.mu.Unlock()
		if h.adminSrv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = h.adminSrv.Shutdown(sctx)
			cancel()
		} else if h.adminLn != nil {
			_ = h.adminLn.Close()
		}
		if h.broker != nil {
			// mochi's own shutdown can deadlock: Clients.GetByListener
			// takes the clients' read lock twice, and a client leaving at
			// that moment queues a writer between the two. Close the
			// listeners first with a disconnect that does not use it; the
			// broker's Close then finds them closed and skips its own.
			for _, l := range []*tcpListener{h.tlsL, h.tcpL} {
				if l != nil {
					l.Close(h.disconnectAll)
				}
			}
			for _, l := range []*wsListener{h.wsL, h.wssL} {
				if l != nil {
					l.Close(h.disconnectAll)
				}
			}
			_ = h.broker.Close()
		}
		h.wg.Wait()
		h.closeErr = h.state.Close()
		h.log.Info("hubsim stopped")
	})
	return h.closeErr
}

// TLSAddr is the TLS listener's address ("" when disabled).
func (h *Hub) TLSAddr() string {
	if h.tlsL == nil {
		return ""
	}
	return h.tlsL.Address()
}

// TCPAddr is the plain-TCP listener's address ("" when disabled).
func (h *Hub) TCPAddr() string {
	if h.tcpL == nil {
		return ""
	}
	return h.tcpL.Address()
}

// WSAddr is the address of the MQTT over WebSocket listener, ws:// ("" when
// disabled).
func (h *Hub) WSAddr() string {
	if h.wsL == nil {
		return ""
	}
	return h.wsL.Address()
}

// WSSAddr is the address of the MQTT over WebSocket in TLS listener, wss://
// ("" when disabled).
func (h *Hub) WSSAddr() string {
	if h.wssL == nil {
		return ""
	}
	return h.wssL.Address()
}

// AdminURL is the admin API's base URL, e.g. "http://127.0.0.1:8080"
// ("" when disabled).
func (h *Hub) AdminURL() string {
	if h.adminLn == nil {
		return ""
	}
	return "http://" + h.adminLn.Addr().String()
}

// CAFile is the path of the hubsim CA certificate (PEM) that devices use
// to verify the broker.
func (h *Hub) CAFile() string { return filepath.Join(h.cfg.StateDir, caCertName) }

// Store is the product and device registry.
func (h *Hub) Store() *Store { return h.store }

// Logger is the hub's logger, for services.
func (h *Hub) Logger() *slog.Logger { return h.log }

// Now is the hub clock.
func (h *Hub) Now() time.Time { return h.now() }

// Admin is the admin API's router; services mount routes on it with Go
// 1.22 patterns ("GET /shadow/{pid}/{dn}").
func (h *Hub) Admin() *http.ServeMux { return h.admin }

// CreateDevice creates a device (and its product when absent) and returns
// its identity in device_info.json form; cert selects certificate
// authentication. A cert device's certificate and key are written under
// the state directory (devices/{pid}/{dn}/) and referenced by absolute
// path, so the result is usable as is. Use WriteDeviceInfo to get a
// self-contained directory.
func (h *Hub) CreateDevice(pid, dn string, cert bool) (*core.DeviceInfo, error) {
	mode := AuthKey
	if cert {
		mode = AuthCert
	}
	d, err := h.store.CreateDevice(pid, dn, mode)
	if err != nil {
		return nil, err
	}
	p, err := h.store.Product(pid)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(h.cfg.StateDir, "devices", pid, dn)
	return writeCredentialFiles(d, p.ProductSecret, h.ca.CertPEM, dir)
}

// WriteDeviceInfo writes dir/device_info.json in the C SDK layout for an
// existing device, with its certificate, key and the hubsim CA next to it
// for a cert device, and returns the file's path.
func (h *Hub) WriteDeviceInfo(pid, dn, dir string) (string, error) {
	d, err := h.store.Device(pid, dn)
	if err != nil {
		return "", err
	}
	p, err := h.store.Product(pid)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, DeviceInfoFile)
	if err := WriteDeviceInfo(out, d, p.ProductSecret, h.ca.CertPEM); err != nil {
		return "", err
	}
	return out, nil
}

// Messages returns a device's message log, oldest first.
func (h *Hub) Messages(pid, dn string) []Record {
	return h.tracker.messages(pid + dn)
}

// Status returns a device's run-time status.
func (h *Hub) Status(pid, dn string) Status { return h.tracker.status(pid + dn) }

// Refusals returns the most recent CONNECT refusals, oldest first.
func (h *Hub) Refusals() []Refusal { return h.tracker.recentRefusals() }

// Publish sends a message to whoever subscribed to topic, normally a
// device on its {pid}/{dn}/control or a $ result topic. qos is 0 or 1.
func (h *Hub) Publish(topic string, payload []byte, qos byte) error {
	if qos > 1 {
		return fmt.Errorf("%w: qos %d: the hub supports 0 and 1", ErrInvalid, qos)
	}
	if topic == "" || len(topic) > MaxTopicLen {
		return fmt.Errorf("%w: topic must be 1 to %d characters", ErrInvalid, MaxTopicLen)
	}
	if dev, ok := DeviceOfTopic(topic, h.deviceExists); ok {
		h.tracker.record(dev.ClientID(), newRecord(h.now(), Down, topic, qos, payload))
		h.logPublish("publish to device", dev, topic, qos, payload)
	}
	if err := h.broker.Publish(topic, payload, false, qos); err != nil {
		return fmt.Errorf("hubsim: publish %s: %w", topic, err)
	}
	return nil
}

func (h *Hub) deviceExists(r DeviceRef) bool {
	_, err := h.store.Device(r.ProductID, r.DeviceName)
	return err == nil
}

const logPayloadMax = 200

func (h *Hub) logPublish(what string, dev DeviceRef, topic string, qos byte, payload []byte) {
	r := newRecord(time.Time{}, "", "", 0, payload)
	p := r.Payload
	if len(p) > logPayloadMax {
		p = p[:logPayloadMax] + "…"
	}
	h.log.Info(what, "device", dev.String(), "topic", topic, "qos", qos, "bytes", len(payload), "payload", p)
}

// levelFilter drops records below min.
type levelFilter struct {
	h   slog.Handler
	min slog.Level
}

func (l levelFilter) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.h.Enabled(ctx, lv)
}
func (l levelFilter) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }
func (l levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{h: l.h.WithAttrs(a), min: l.min}
}
func (l levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{h: l.h.WithGroup(n), min: l.min}
}
