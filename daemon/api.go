package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/net/netutil"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/features/broadcast"
	"github.com/iotd/iotd/features/gateway"
	"github.com/iotd/iotd/features/logupload"
	"github.com/iotd/iotd/features/ota"
	"github.com/iotd/iotd/features/rrpc"
	"github.com/iotd/iotd/features/shadow"
)

// The local API: HTTP/1.1 over a Unix socket, JSON bodies. Paths:
//
//	GET  /v1/status                 → Status
//	POST /v1/publish                ← PublishRequest  → {} or {"error": ...}
//	GET  /v1/subscribe?filter=F&qos=N → a stream of Message, one JSON per line
//	DELETE /v1/subscribe?filter=F   → UnsubscribeResult (drops the cloud subscription)
//	GET  /v1/drivers                → []core.ProbeResult
//	GET  /v1/shadow                 → shadow.Document, the last known copy (no round trip)
//	POST /v1/shadow/get             → shadow.Document, read from the hub
//	POST /v1/shadow/report          ← ShadowReport → shadow.Document
//	POST /v1/shadow/clear-desired   → shadow.Document
//	GET  /v1/shadow/watch           → a stream of shadow.Delta
//	GET  /v1/rrpc/requests          → a stream of RRPCRequest
//	POST /v1/rrpc/reply             ← RRPCReply (same process id as the request)
//	GET  /v1/broadcast              → a stream of BroadcastMessage
//	GET  /v1/gateway                → []gateway.SubDevice (known sub-devices and their state)
//	GET  /v1/gateway/describe       → []gateway.Ref (what the hub has bound)
//	POST /v1/gateway/subdevices     ← gateway.SubDeviceConfig (add one at run time)
//	POST /v1/gateway/{op}           ← GatewayRequest → GatewayResults (online, offline, bind, unbind)
//	POST /v1/log                    ← LogLine (uploaded with iotd's logs when upload is on)
//	GET  /v1/ota                    → ota.Status (version, state, percent, last error)
//	GET  /v1/at/...                 → the AT modems: status, trace, one command (api_at.go)
//
// A filter's cloud subscription lasts while anyone holds it: the
// /v1/subscribe streams and iotd's features. When the last stream on a
// filter ends, the filter is unsubscribed; DELETE drops it at once.
//
// Request bodies larger than [MaxRequestBody] are refused with 413. A
// request's headers must arrive within 5 s and the whole request within
// 15 s; an idle keep-alive connection is closed after 60 s, and at most 256
// connections are served at a time (more wait to be accepted). Responses,
// streams included, are not bounded in time.

// Status is what `iotd status` shows. It never holds a secret.
type Status struct {
	Version   string        `json:"version"`
	Uptime    time.Duration `json:"uptime_ns"`
	ProductID string        `json:"product_id"`
	Device    string        `json:"device_name"`
	AuthMode  string        `json:"auth_mode"`
	Link      bus.LinkState `json:"link"`
	// Channel is mqtt or coap.
	Channel string `json:"channel"`
	// CoAP holds the CoAP channel's token age and counters; nil on mqtt.
	CoAP *CoAPStatus `json:"coap,omitempty"`
	// ConnectedSince is when the current MQTT or CoAP session started, if connected.
	ConnectedSince time.Time     `json:"connected_since,omitzero"`
	ClockOffset    time.Duration `json:"clock_offset_ns"`
	LastSync       time.Time     `json:"last_sync,omitzero"`
	QueueDepth     int           `json:"queue_depth"`
	// Queue holds the MQTT channel's queue bounds and dead letters.
	Queue         *QueueStatus `json:"queue,omitempty"`
	Inflight      int          `json:"inflight"`
	Subscriptions []string     `json:"subscriptions"`
	LastError     string       `json:"last_error,omitempty"`
	// Trust is what verifies the hub's server, with warnings for trusted
	// CAs that expire within a year.
	Trust TrustStatus `json:"trust"`
	// Features holds each feature's counters, bad input included.
	Features FeatureStats `json:"features"`
	// Modems are the AT modems the drivers have open (GET /v1/status asks
	// them first, at most every 30 s).
	Modems []driver.ModemStatus `json:"modems,omitempty"`
}

// FeatureStats are the features' counters.
type FeatureStats struct {
	Shadow    shadow.Stats    `json:"shadow"`
	RRPC      rrpc.Stats      `json:"rrpc"`
	Broadcast broadcast.Stats `json:"broadcast"`
	OTA       ota.Status      `json:"ota"`
	Gateway   gateway.Stats   `json:"gateway"`
	// SubDeviceOTA is the OTA state of each online sub-device that has one.
	SubDeviceOTA map[string]ota.Status `json:"sub_device_ota,omitempty"`
	// LogUpload is nil when log upload is off.
	LogUpload *logupload.Stats `json:"logupload,omitempty"`
}

// Message is one received message on a /v1/subscribe stream. Payload holds
// the body when it is valid UTF-8, PayloadBase64 otherwise.
type Message struct {
	Topic         string    `json:"topic"`
	QoS           int       `json:"qos"`
	Payload       string    `json:"payload,omitempty"`
	PayloadBase64 string    `json:"payload_base64,omitempty"`
	ReceivedAt    time.Time `json:"received_at"`
}

// apiLimits bound what a local client can hold of the daemon.
type apiLimits struct {
	// HeaderTimeout bounds the wait for a request's headers, from the
	// connection's start or its first byte after an idle keep-alive.
	HeaderTimeout time.Duration
	// ReadTimeout bounds the reading of a whole request, body included.
	// It does not bound a response: net/http clears the deadline once the
	// body is read (at once for a GET), so streams outlive it.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout time.Duration
	// MaxConns bounds the connections served at a time; more wait in the
	// listen queue until one closes.
	MaxConns int
}

var defaultAPILimits = apiLimits{
	HeaderTimeout: 5 * time.Second,
	ReadTimeout:   15 * time.Second,
	IdleTimeout:   60 * time.Second,
	MaxConns:      256,
}

type apiServer struct {
	d      *Daemon
	ln     net.Listener
	srv    *http.Server
	limits apiLimits
	path   string
	sock   os.FileInfo // the socket file as created, to remove only that
}

// listenAPI binds the socket, refusing to steal one a live daemon serves
// or to remove anything at the path that is not a socket.
func (d *Daemon) listenAPI() (*apiServer, error) {
	return d.listenAPIWith(defaultAPILimits)
}

func (d *Daemon) listenAPIWith(limits apiLimits) (*apiServer, error) {
	path := d.cfg.SocketPath()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	// Only the daemon's user may talk to it: the API can publish as the
	// device. The umask makes the socket 0600 from the start (a chmod after
	// bind would leave a moment when anyone could connect); this runs
	// before any other goroutine of the daemon creates files.
	old := syscall.Umask(0o177)
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	// Close would unlink whatever is at the path by then; serve removes
	// the socket itself, and only if it is still this one.
	ul.SetUnlinkOnClose(false)
	sock, err := os.Lstat(path)
	if err == nil {
		err = os.Chmod(path, 0o600)
	}
	if err != nil {
		ul.Close()
		return nil, fmt.Errorf("api: %w", err)
	}
	s := &apiServer{d: d, ln: netutil.LimitListener(ul, limits.MaxConns), limits: limits, path: path, sock: sock}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("POST /v1/publish", s.publish)
	mux.HandleFunc("GET /v1/subscribe", s.subscribe)
	mux.HandleFunc("DELETE /v1/subscribe", s.unsubscribe)
	mux.HandleFunc("GET /v1/drivers", s.drivers)
	mux.HandleFunc("GET /v1/shadow", s.shadowCached)
	mux.HandleFunc("POST /v1/shadow/get", s.shadowGet)
	mux.HandleFunc("POST /v1/shadow/report", s.shadowReport)
	mux.HandleFunc("POST /v1/shadow/clear-desired", s.shadowClearDesired)
	mux.HandleFunc("GET /v1/shadow/watch", s.shadowWatch)
	mux.HandleFunc("GET /v1/rrpc/requests", s.rrpcRequests)
	mux.HandleFunc("POST /v1/rrpc/reply", s.rrpcReply)
	mux.HandleFunc("GET /v1/broadcast", s.broadcasts)
	mux.HandleFunc("GET /v1/ota", s.otaStatus)
	mux.HandleFunc("GET /v1/gateway", s.gatewayList)
	mux.HandleFunc("GET /v1/gateway/describe", s.gatewayDescribe)
	mux.HandleFunc("POST /v1/gateway/subdevices", s.gatewayAdd)
	mux.HandleFunc("POST /v1/gateway/{op}", s.gatewayOp)
	mux.HandleFunc("POST /v1/log", s.logLine)
	s.outboxRoutes(mux)
	s.atRoutes(mux)
	s.srv = &http.Server{
		Handler:           s.readBody(mux),
		ReadHeaderTimeout: limits.HeaderTimeout,
		ReadTimeout:       limits.ReadTimeout,
		IdleTimeout:       limits.IdleTimeout,
	}
	return s, nil
}

// removeStaleSocket removes the socket at path that a crashed daemon left,
// and refuses when a daemon answers there or the path is not a socket.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("api: %s is %s, not a socket; refusing to remove it: choose another socket path", path, fileKind(fi.Mode()))
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("api: another iotd is already serving %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("api: stale socket: %w", err)
	}
	return nil
}

// fileKind names the type of file m describes, with its article.
func fileKind(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		return "a symbolic link"
	case fs.ModeNamedPipe:
		return "a named pipe"
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		return "a device"
	}
	return "a special file (" + m.Type().String() + ")"
}

func (s *apiServer) serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(sctx)
		_ = s.srv.Close()
	}()
	err := s.srv.Serve(s.ln)
	s.removeSocket()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// removeSocket removes the socket file, unless the path no longer names
// the one listenAPI created (another daemon's socket, or a file someone
// put there).
func (s *apiServer) removeSocket() {
	fi, err := os.Lstat(s.path)
	if err != nil {
		return
	}
	if !os.SameFile(fi, s.sock) {
		s.d.log.Warn("api: the socket path now names another file; left in place", "path", s.path)
		return
	}
	_ = os.Remove(s.path)
}

// readBody reads a request's body before the handler runs, at most
// MaxRequestBody bytes, refusing a larger one with 413. Handlers then read
// it from memory.
func (s *apiServer) readBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		refuse := func(code int, err error) {
			w.Header().Set("Connection", "close")
			writeError(w, code, err)
		}
		tooLarge := func() {
			// Read on, up to another MaxRequestBody, so that a client
			// still writing the body gets to read the answer instead of
			// a broken pipe.
			_, _ = io.CopyN(io.Discard, r.Body, MaxRequestBody)
			refuse(http.StatusRequestEntityTooLarge, fmt.Errorf("api: request body over the %d-byte (1 MiB) limit", MaxRequestBody))
		}
		if r.ContentLength > MaxRequestBody {
			tooLarge()
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBody+1))
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			refuse(http.StatusRequestTimeout, fmt.Errorf("api: request not received within %s", s.limits.ReadTimeout))
			return
		case err != nil:
			refuse(http.StatusBadRequest, fmt.Errorf("api: request body: %w", err))
			return
		case len(body) > MaxRequestBody:
			tooLarge()
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func (s *apiServer) status(w http.ResponseWriter, r *http.Request) {
	st := s.d.Status()
	ctx, cancel := context.WithTimeout(r.Context(), statusModemWait)
	defer cancel()
	st.Modems = s.d.Modems(ctx, true)
	writeJSON(w, http.StatusOK, st)
}

// Status reports the daemon's state.
func (d *Daemon) Status() Status {
	st := Status{
		Version:     Version,
		Uptime:      time.Since(d.started),
		ProductID:   d.device.ProductID,
		Device:      d.device.DeviceName,
		AuthMode:    d.device.AuthMode,
		Link:        d.linkState(),
		ClockOffset: d.clock.Offset(),
		LastSync:    d.clock.LastSync(),
		Trust:       trustStatus(d.contact.Trust, d.clock.Now()),
		Features: FeatureStats{Shadow: d.shadow.Stats(), RRPC: d.rrpc.Stats(), Broadcast: d.bcast.Stats(),
			OTA: d.ota.Status(), Gateway: d.gateway.Stats(), SubDeviceOTA: d.subOTAStatus()},
	}
	d.uplinkStatus(&st)
	if d.logup != nil {
		ls := d.logup.Stats()
		st.Features.LogUpload = &ls
	}
	if st.Subscriptions == nil {
		st.Subscriptions = []string{}
	}
	return st
}

func (s *apiServer) subscribe(w http.ResponseWriter, r *http.Request) {
	filter := s.d.ExpandTopic(r.URL.Query().Get("filter"))
	qos, _ := strconv.Atoi(r.URL.Query().Get("qos"))
	if err := s.d.CheckTopic(filter, true); err != nil {
		writeError(w, http.StatusForbidden, err)
		return
	}
	if qos != 0 && qos != 1 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("subscribe: qos %d: the hub supports 0 and 1", qos))
		return
	}
	ch, err := s.d.bus.CloudSubscribe(r.Context(), filter, byte(qos))
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	streamJSON(w, ch, func(m *message.Message) any {
		m.Ack()
		q, _ := strconv.Atoi(m.Metadata.Get(bus.MetaQoS))
		out := Message{Topic: m.Metadata.Get(bus.MetaTopic), QoS: q, ReceivedAt: time.Now().UTC()}
		out.Payload, out.PayloadBase64 = textOrBase64(m.Payload)
		return out
	})
}

func (s *apiServer) drivers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.d.reg.Probe(r.Context(), 5*time.Second))
}

// ExpandTopic turns a short topic without a slash ("event") into the
// device's own topic ("{pid}/{dn}/event"); other topics pass unchanged.
func (d *Daemon) ExpandTopic(t string) string {
	return ExpandTopic(t, d.device.ProductID, d.device.DeviceName)
}

// ExpandTopic is [Daemon.ExpandTopic] for a given device.
func ExpandTopic(t, productID, deviceName string) string {
	if t != "" && !strings.Contains(t, "/") && !strings.HasPrefix(t, "$") {
		return productID + "/" + deviceName + "/" + t
	}
	return t
}

// CheckTopic refuses, before anything reaches the hub, a topic the hub
// would refuse for this device: the hub lets a device use only
// "{pid}/{dn}/..." and system topics that name it ("$shadow/operation/{pid}/{dn}").
// Publishing QoS 1 to a refused topic makes the hub drop the connection, so
// this check keeps one bad request from turning into a reconnect loop.
// A gateway may also use the topics of its online sub-devices.
func (d *Daemon) CheckTopic(topic string, filter bool) error {
	err := CheckTopic(topic, d.device.ProductID, d.device.DeviceName, filter)
	if err == nil || d.gateway == nil {
		return err
	}
	for _, sub := range d.gateway.List() {
		if sub.State == gateway.StateOnline && CheckTopic(topic, sub.ProductID, sub.DeviceName, filter) == nil {
			return nil
		}
	}
	return err
}

// CheckTopic is [Daemon.CheckTopic] for a given device.
func CheckTopic(topic, productID, deviceName string, filter bool) error {
	if topic == "" {
		return errors.New("topic: empty")
	}
	segs := strings.Split(topic, "/")
	if filter {
		for i, s := range segs {
			if (strings.Contains(s, "+") && s != "+") || (strings.Contains(s, "#") && (s != "#" || i != len(segs)-1)) {
				return fmt.Errorf("filter %q: '+' must fill a whole level and '#' must be the whole last level", topic)
			}
		}
		// Wildcards are fine in a filter; check the rest as a topic.
		if err := core.ValidateTopic(strings.NewReplacer("+", "x", "#", "x").Replace(topic)); err != nil {
			return err
		}
	} else if err := core.ValidateTopic(topic); err != nil {
		return err
	}
	own := productID + "/" + deviceName
	if strings.HasPrefix(topic, "$") {
		for i := 1; i+1 < len(segs); i++ {
			if segs[i] == productID && segs[i+1] == deviceName {
				return nil
			}
		}
	} else if len(segs) >= 3 && segs[0] == productID && segs[1] == deviceName {
		return nil
	}
	return fmt.Errorf("topic %q does not belong to this device: the hub allows only %s/... and system topics naming %s", topic, own, own)
}
