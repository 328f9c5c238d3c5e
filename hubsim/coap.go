package hubsim

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// CoAP admin API:
//
//	GET    /coap                              → CoAPInfo (addresses, mode, counters)
//	PUT    /coap/mode                         ← CoAPMode → CoAPMode
//	DELETE /devices/{pid}/{dn}/coap/tokens    expire the device's auth tokens now

// CoAP defaults and limits (PROTOCOL.md §4).
const (
	// DefaultCoAPAddr is the hub's CoAP port on loopback; cmd/hubsim
	// listens there, a Config with an empty CoAPAddr does not.
	DefaultCoAPAddr = "127.0.0.1:5684"
	// DefaultCoAPTokenTTL is how long an auth token stays valid.
	DefaultCoAPTokenTTL = time.Hour
	// DefaultCoAPIdleTimeout is how long a silent session is kept.
	DefaultCoAPIdleTimeout = 5 * time.Minute
	// CoAPMaxPayload is the largest publish payload the hub takes; a larger
	// one is answered 4.13 with Size1 = CoAPMaxPayload.
	CoAPMaxPayload = 1024
	// CoAPAuthPath is the last Uri-Path segment of the auth request,
	// {pid}/{dn}/txauth9w0BAQsFA.
	CoAPAuthPath = "txauth9w0BAQsFA"
	// CoAPOptionToken and CoAPOptionNeedResponse are the hub's custom
	// options: the auth token and the need-response flag ("0" or "1").
	CoAPOptionToken        = 61
	CoAPOptionNeedResponse = 62
)

// CoAPStats counts what the CoAP endpoint saw since the hub started.
type CoAPStats struct {
	// AuthOK and AuthFailed count auth requests (txauth) answered 2.05 and
	// refused; HandshakeFailed counts DTLS handshakes that did not finish
	// (unknown identity, cert-only device, wrong key, timeout).
	AuthOK          int64 `json:"authOk"`
	AuthFailed      int64 `json:"authFailed"`
	HandshakeFailed int64 `json:"handshakeFailed"`
	// Publishes counts publishes delivered to the hub.
	Publishes int64 `json:"publishes"`
	// Responses sent with an error code, by code.
	BadRequest       int64 `json:"badRequest"`       // 4.00
	Unauthorized     int64 `json:"unauthorized"`     // 4.01
	BadOption        int64 `json:"badOption"`        // 4.02
	Forbidden        int64 `json:"forbidden"`        // 4.03
	MethodNotAllowed int64 `json:"methodNotAllowed"` // 4.05
	TooLarge         int64 `json:"tooLarge"`         // 4.13
	// Malformed counts datagrams that did not parse (dropped, or reset
	// when the header named a CON).
	Malformed int64 `json:"malformed"`
	// Duplicates counts retransmitted requests answered from the cache.
	Duplicates int64 `json:"duplicates"`
	// Separate counts separate (CON 2.05) responses sent, Retransmits their
	// retransmissions, Unacked those never acknowledged.
	Separate    int64 `json:"separate"`
	Retransmits int64 `json:"retransmits"`
	Unacked     int64 `json:"unacked"`
}

// CoAPInfo describes the CoAP endpoint (GET /coap).
type CoAPInfo struct {
	// DTLSAddr and PlainAddr are the bound addresses, "" when off.
	DTLSAddr  string `json:"dtlsAddr"`
	PlainAddr string `json:"plainAddr"`
	// Separate is the response mode (see Config.CoAPSeparate).
	Separate bool   `json:"separate"`
	TokenTTL string `json:"tokenTtl"`
	// Sessions is the number of open sessions.
	Sessions int       `json:"sessions"`
	Stats    CoAPStats `json:"stats"`
}

// CoAPMode is the body of PUT /coap/mode.
type CoAPMode struct {
	Separate bool `json:"separate"`
}

// CoAPService is the hub's CoAP endpoint (PROTOCOL.md §4). Get a hub's
// with [Hub.CoAP].
//
//   - DTLS 1.2 with PSKs: identity = client id, key = the base64-decoded
//     device secret; unknown, disabled and CERT devices fail the handshake.
//     Suites: the hub's TLS_PSK_WITH_AES_{128,256}_CBC_SHA (preferred), and
//     PSK AES-128 GCM, CCM, CCM_8 and CBC_SHA256. Plain UDP (CoAPPlainAddr)
//     has no PSK: an auth request is trusted for the device it names.
//   - Auth: CON POST {pid}/{dn}/txauth9w0BAQsFA with the C SDK's 16-byte
//     payload "21010406;{connId}", NUL, one more byte (or 12010126) → 2.05
//     with a 10-letter token valid for CoAPTokenTTL (hub clock). Any other
//     payload, the bare 14 characters included, is answered 4.00: the
//     16-byte form is the only one known to work with the real hub
//     (PROTOCOL.md §8.3 item 11, §9; [ParseCoAPAuth]). Over DTLS the path
//     must name the PSK identity's device.
//   - Publish: POST, Uri-Path = the topic (one option with slashes, or
//     segments), option 61 = token, option 62 = "1" for a response. Checked
//     in this order: unrecognised critical option → 4.02, not POST → 4.05,
//     payload over CoAPMaxPayload → 4.13 (with Size1), missing, unknown or
//     expired token (or another device's, over DTLS) → 4.01, topic outside
//     the ACL → 4.03. Accepted publishes go through [Hub.Ingest] (message
//     log, MQTT subscribers, service handlers) with QoS 1 for CON, 0 for NON.
//   - Success is a piggy-backed 2.05 (the SDK takes 2.05 only), with a body
//     only in the OTA case below. A NON request is answered by a NON, and
//     only on an error or with need-response "1". In separate mode a CON publish gets an
//     ACK 2.03 and, with need-response "1", a CON 2.05 carrying the request's
//     token, retransmitted (2 s doubling, 4 times) until ACKed or RST.
//     Errors and auth are always piggy-backed.
//   - A report_version on $ota/report/{pid}/{dn} with need-response "1" is
//     answered with the update_firmware pushed to the device and not yet
//     reported done, failed or installed ([OTAService.PendingUpdate]); with
//     none pending, with the report_version_rsp the hub sends over MQTT.
//     A device with an open session and a live token counts as reachable for
//     an OTA push.
//   - A request's reply is cached for EXCHANGE_LIFETIME under its message id:
//     a retransmission gets the same reply and is not delivered again.
//     Malformed datagrams are counted and dropped (a CON is reset). Sessions
//     silent for CoAPIdleTimeout are closed.
type CoAPService struct {
	h        *Hub
	ttl      time.Duration
	idle     time.Duration
	separate atomic.Bool
	tokens   *coapTokens
	stats    coapCounters

	dtls  *coapDTLSListener
	plain *coapPlainListener

	mu       sync.Mutex
	sessions map[*coapSession]struct{}
	lastAuth map[DeviceRef][]byte // guarded by mu; see LastAuthPayload
}

type coapCounters struct {
	authOK, authFailed, handshakeFailed, publishes             atomic.Int64
	badRequest, unauthorized, badOption, forbidden, notAllowed atomic.Int64
	tooLarge, malformed, duplicates                            atomic.Int64
	separate, retransmits, unacked                             atomic.Int64
}

func init() {
	registerBuiltin(func() Service { return &CoAPService{sessions: map[*coapSession]struct{}{}} })
}

// CoAP returns the hub's CoAP service (nil after Close). It exists even
// when both CoAP listeners are off.
func (h *Hub) CoAP() *CoAPService { return service[*CoAPService](h) }

// CoAPAddr is the bound address of CoAP over DTLS ("" when off).
func (h *Hub) CoAPAddr() string {
	if s := h.CoAP(); s != nil && s.dtls != nil {
		return s.dtls.addr()
	}
	return ""
}

// CoAPPlainAddr is the bound address of plain CoAP ("" when off).
func (h *Hub) CoAPPlainAddr() string {
	if s := h.CoAP(); s != nil && s.plain != nil {
		return s.plain.addr()
	}
	return ""
}

func (*CoAPService) Name() string { return "coap" }

func (s *CoAPService) Start(ctx context.Context, h *Hub) error {
	s.h = h
	s.ttl, s.idle = h.cfg.CoAPTokenTTL, h.cfg.CoAPIdleTimeout
	if s.ttl <= 0 {
		s.ttl = DefaultCoAPTokenTTL
	}
	if s.idle <= 0 {
		s.idle = DefaultCoAPIdleTimeout
	}
	s.separate.Store(h.cfg.CoAPSeparate)
	s.tokens = newCoAPTokens()
	if a := h.cfg.CoAPAddr; a != "" && a != Off {
		l, err := s.listenDTLS(a)
		if err != nil {
			return fmt.Errorf("CoAP DTLS listener %s: %w", a, err)
		}
		s.dtls = l
	}
	if a := h.cfg.CoAPPlainAddr; a != "" && a != Off {
		l, err := s.listenPlain(a)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("CoAP UDP listener %s: %w", a, err)
		}
		s.plain = l
	}
	h.Go(func(ctx context.Context) {
		<-ctx.Done()
		s.closeListeners()
		s.closeSessions()
	})
	if s.dtls != nil {
		h.Go(s.dtls.serve)
	}
	if s.plain != nil {
		h.Go(s.plain.serve)
	}
	// A device with a live session and token can take an OTA push: the
	// update is its next report_version's answer.
	h.AddPresence(s.online)
	a := h.Admin()
	a.HandleFunc("GET /coap", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Info()) })
	a.HandleFunc("PUT /coap/mode", s.handleMode)
	a.HandleFunc("DELETE /devices/{pid}/{dn}/coap/tokens", s.handleExpire)
	if s.dtls != nil || s.plain != nil {
		h.log.Info("CoAP endpoint", "dtls", h.CoAPAddr(), "udp", h.CoAPPlainAddr(), "separate", s.separate.Load())
	}
	return nil
}

// SetSeparate switches between piggy-backed responses (false) and ACK 2.03
// followed by a separate CON 2.05 (true), for requests that arrive from now
// on.
func (s *CoAPService) SetSeparate(on bool) { s.separate.Store(on) }

// ExpireTokens makes every auth token of dev invalid now, as if its TTL had
// passed, and returns how many there were. The device's next publish is
// answered 4.01.
func (s *CoAPService) ExpireTokens(dev DeviceRef) int { return s.tokens.expire(dev) }

// LastAuthPayload returns a copy of the payload of the last auth request
// made for dev, accepted or not; nil when there was none. It shows what a
// device really sends: the hub takes only the C SDK's 16 bytes (see
// [ParseCoAPAuth]).
func (s *CoAPService) LastAuthPayload(dev DeviceRef) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.lastAuth[dev])
}

// recordAuth keeps payload as dev's last auth payload. Only known devices
// are recorded, so the map is bounded by the device store.
func (s *CoAPService) recordAuth(dev DeviceRef, payload []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastAuth == nil {
		s.lastAuth = map[DeviceRef][]byte{}
	}
	s.lastAuth[dev] = bytes.Clone(payload)
}

// Stats returns the endpoint's counters.
func (s *CoAPService) Stats() CoAPStats {
	c := &s.stats
	return CoAPStats{
		AuthOK: c.authOK.Load(), AuthFailed: c.authFailed.Load(), HandshakeFailed: c.handshakeFailed.Load(),
		Publishes: c.publishes.Load(), BadRequest: c.badRequest.Load(), Unauthorized: c.unauthorized.Load(),
		BadOption: c.badOption.Load(), Forbidden: c.forbidden.Load(), MethodNotAllowed: c.notAllowed.Load(),
		TooLarge: c.tooLarge.Load(), Malformed: c.malformed.Load(), Duplicates: c.duplicates.Load(),
		Separate: c.separate.Load(), Retransmits: c.retransmits.Load(), Unacked: c.unacked.Load(),
	}
}

// Info returns the endpoint's addresses, mode and counters.
func (s *CoAPService) Info() CoAPInfo {
	s.mu.Lock()
	n := len(s.sessions)
	s.mu.Unlock()
	return CoAPInfo{DTLSAddr: s.h.CoAPAddr(), PlainAddr: s.h.CoAPPlainAddr(), Separate: s.separate.Load(),
		TokenTTL: s.ttl.String(), Sessions: n, Stats: s.Stats()}
}

func (s *CoAPService) addSession(c *coapSession) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		return false // closed
	}
	s.sessions[c] = struct{}{}
	return true
}

func (s *CoAPService) removeSession(c *coapSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, c)
}

func (s *CoAPService) closeSessions() {
	s.mu.Lock()
	all := s.sessions
	s.sessions = nil
	s.mu.Unlock()
	for c := range all {
		c.close()
	}
}

func (s *CoAPService) closeListeners() {
	if s.dtls != nil {
		s.dtls.close()
	}
	if s.plain != nil {
		s.plain.close()
	}
}

// online reports whether dev has an open session that authenticated as it
// and a token that is still valid.
func (s *CoAPService) online(dev DeviceRef) bool {
	if !s.tokens.live(dev, s.h.now()) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.sessions {
		if c.authenticated() == dev {
			return true
		}
	}
	return false
}

func (s *CoAPService) handleMode(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var m CoAPMode
	if err := decodeStrict(body, &m); err != nil {
		writeError(w, err)
		return
	}
	s.SetSeparate(m.Separate)
	writeJSON(w, http.StatusOK, m)
}

func (s *CoAPService) handleExpire(w http.ResponseWriter, r *http.Request) {
	d, err := s.h.store.Device(r.PathValue("pid"), r.PathValue("dn"))
	if err != nil {
		writeError(w, err)
		return
	}
	n := s.ExpireTokens(DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName})
	writeJSON(w, http.StatusOK, map[string]int{"expired": n})
}
