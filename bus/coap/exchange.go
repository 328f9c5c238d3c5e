package coap

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
)

// Counters count what happened on the channel since the uplink started.
type Counters struct {
	// Requests counts requests sent (auth included), not retransmissions.
	Requests int64 `json:"requests"`
	// Retransmissions counts confirmable requests sent again.
	Retransmissions int64 `json:"retransmissions"`
	// Timeouts counts exchanges that got no answer in time.
	Timeouts int64 `json:"timeouts"`
	// Reauths counts auth exchanges after a 4.01 or a token refresh.
	Reauths int64 `json:"reauths"`
	// Separate counts responses that came separately, after a 2.03 or an
	// empty ACK.
	Separate int64 `json:"separate"`
	// Duplicates counts responses and ACKs matching no outstanding request:
	// retransmitted responses, strays and resets.
	Duplicates int64 `json:"duplicates"`
	// Malformed counts datagrams that are not well-formed CoAP responses.
	Malformed int64 `json:"malformed"`
	// Refused counts 4.xx and 5.xx answers to publishes.
	Refused int64 `json:"refused"`
	// TooLarge counts publishes refused before sending for their size.
	TooLarge int64 `json:"too_large"`
}

type counters struct {
	requests, retransmissions, timeouts, reauths, separate, duplicates, malformed, refused, tooLarge atomic.Int64
}

func (c *counters) snapshot() Counters {
	return Counters{
		Requests: c.requests.Load(), Retransmissions: c.retransmissions.Load(), Timeouts: c.timeouts.Load(),
		Reauths: c.reauths.Load(), Separate: c.separate.Load(), Duplicates: c.duplicates.Load(),
		Malformed: c.malformed.Load(), Refused: c.refused.Load(), TooLarge: c.tooLarge.Load(),
	}
}

// ErrTimeout is wrapped by the error of an exchange that got no answer.
var ErrTimeout = errors.New("coap: no response")

// ErrTooLarge is wrapped by the error of a publish refused for its size.
var ErrTooLarge = errors.New("coap: message too large")

// StatusError is a request the hub answered with a code other than 2.xx.
type StatusError struct {
	// Path is the request's Uri-Path (the topic).
	Path    string
	Code    codes.Code
	Payload string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("coap: POST %s: the hub answered %s", e.Path, CodeString(e.Code))
	switch e.Code {
	case codes.Unauthorized:
		s += " (unauthorized: the auth token is invalid or expired)"
	case codes.Forbidden:
		s += " (forbidden: the device may not publish to this topic; check the topic's permissions)"
	case codes.RequestEntityTooLarge:
		s += " (request entity too large: make the payload smaller)"
	}
	if e.Payload != "" {
		s += ": " + e.Payload
	}
	return s
}

// Class classifies the refusal for core.ClassOf.
func (e *StatusError) Class() core.Class {
	switch e.Code {
	case codes.Unauthorized:
		return core.ClassUnauthenticated
	case codes.Forbidden:
		return core.ClassPermissionDenied
	}
	return core.ClassUnknown
}

// exchange is one outstanding request.
type exchange struct {
	mid   uint16
	token string
	acked chan struct{} // closed on an empty or 2.03 ACK
	resp  chan Response // capacity 1
	ackd  bool          // guarded by engine.mu
}

// engine runs exchanges over one datagram connection: it owns message ids
// and tokens, retransmits, and matches what its reader receives.
type engine struct {
	conn  net.Conn
	cfg   Config
	log   *slog.Logger
	stats *counters
	rnd   func() float64

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex // guards the fields below
	nextMID uint16
	byMID   map[uint16]*exchange
	byToken map[string]*exchange

	dead    chan struct{} // closed when the reader stops
	deadErr error         // set before dead closes
}

func newEngine(conn net.Conn, cfg Config, stats *counters, log *slog.Logger) *engine {
	rnd := cfg.Rand
	if rnd == nil {
		rnd = mrand.Float64
	}
	var b [2]byte
	_, _ = rand.Read(b[:])
	return &engine{
		conn: conn, cfg: cfg, log: log, stats: stats, rnd: rnd,
		nextMID: nextMessageID(binary.BigEndian.Uint16(b[:]) - 1),
		byMID:   make(map[uint16]*exchange), byToken: make(map[string]*exchange),
		dead: make(chan struct{}),
	}
}

// read receives datagrams until the connection fails, then records why and
// closes dead. It returns when the connection is closed.
func (e *engine) read() {
	buf := make([]byte, 8192)
	for {
		n, err := e.conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
				continue
			}
			if errors.Is(err, driver.ErrShortBuffer) {
				e.stats.malformed.Add(1)
				continue
			}
			e.deadErr = fmt.Errorf("%w: %w", errConnLost, err)
			close(e.dead)
			return
		}
		e.handle(buf[:n])
	}
}

// handle matches one datagram to its exchange.
func (e *engine) handle(data []byte) {
	r, err := ParseResponse(data)
	if err != nil {
		e.stats.malformed.Add(1)
		e.log.Debug("coap: datagram ignored", "err", err, "bytes", len(data))
		if len(data) >= 4 && data[0]>>6 == 1 && message.Type(data[0]>>4&3) == message.Confirmable {
			// RFC 7252 §4.2: a CON we cannot process is rejected with a
			// reset, so that the peer stops retransmitting it.
			_ = e.write(resetFor(binary.BigEndian.Uint16(data[2:4])))
		}
		return
	}
	if r.Type == message.Confirmable {
		// Acknowledge every CON, a retransmitted one too: our first ACK may
		// have been lost.
		_ = e.write(emptyACK(r.MessageID))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch r.Type {
	case message.Acknowledgement, message.Reset:
		ex := e.byMID[r.MessageID]
		if ex == nil || (r.Code != codes.Empty && string(r.Token) != ex.token) {
			e.stats.duplicates.Add(1)
			return
		}
		delete(e.byMID, r.MessageID)
		if r.Type == message.Acknowledgement && (r.Code == codes.Empty || r.Code == codes.Valid) {
			// Accepted; the response follows separately (the hub uses 2.03
			// where RFC 7252 has an empty ACK: accept both).
			if !ex.ackd {
				ex.ackd = true
				close(ex.acked)
			}
			return
		}
		e.deliver(ex, r)
	default: // a separate response, CON or NON
		ex := e.byToken[string(r.Token)]
		if ex == nil || len(r.Token) == 0 {
			e.stats.duplicates.Add(1)
			return
		}
		e.stats.separate.Add(1)
		e.deliver(ex, r)
	}
}

// deliver ends ex with r; e.mu is held.
func (e *engine) deliver(ex *exchange, r Response) {
	delete(e.byMID, ex.mid)
	delete(e.byToken, ex.token)
	r.Token = append([]byte(nil), r.Token...)
	r.Payload = append([]byte(nil), r.Payload...)
	ex.resp <- r // capacity 1, and ex is in no map any more
}

func (e *engine) write(p []byte) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	_, err := e.conn.Write(p)
	return err
}

// tokenLen is the length of a request's token: the C SDK's tokens are 4
// bytes (the little-endian encoding of a per-client counter,
// sdk_src/protocol/coap/coap_client_message.c). iotd sends 4 random bytes
// instead: the same length, a value the hub can only echo, and random as
// RFC 7252 §5.3.1 asks of a client that may run over plain UDP.
const tokenLen = 4

// nextMessageID is the message id after mid. Like the C SDK's (random
// start, +1, 65535 → 1) it never is 0.
func nextMessageID(mid uint16) uint16 {
	if mid == 65535 {
		return 1
	}
	return mid + 1
}

// newToken returns a random token of tokenLen bytes.
func newToken() []byte {
	t := make([]byte, tokenLen)
	_, _ = rand.Read(t)
	return t
}

// roundTrip sends req as a confirmable request and waits for its response,
// retransmitting as RFC 7252 §4.2 says. It sets req's message id and token.
// When the hub accepts the request with 2.03 or an empty ACK, roundTrip
// waits for the separate response if wantBody is set, and otherwise returns
// that ACK as the answer: with need-response "0" the hub sends nothing more.
func (e *engine) roundTrip(ctx context.Context, req Request, wantBody bool) (Response, error) {
	ex := &exchange{acked: make(chan struct{}), resp: make(chan Response, 1)}
	e.mu.Lock()
	for {
		ex.mid = e.nextMID
		e.nextMID = nextMessageID(e.nextMID)
		if e.byMID[ex.mid] == nil {
			break
		}
	}
	for {
		tok := newToken()
		if e.byToken[string(tok)] == nil {
			ex.token = string(tok)
			break
		}
	}
	e.byMID[ex.mid] = ex
	e.byToken[ex.token] = ex
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		if e.byMID[ex.mid] == ex {
			delete(e.byMID, ex.mid)
		}
		if e.byToken[ex.token] == ex {
			delete(e.byToken, ex.token)
		}
		e.mu.Unlock()
	}()

	req.Type, req.MessageID, req.Token = message.Confirmable, ex.mid, []byte(ex.token)
	wire, err := req.Encode()
	if err != nil {
		return Response{}, err
	}
	if len(wire) > e.cfg.MaxPayload {
		e.stats.tooLarge.Add(1)
		return Response{}, fmt.Errorf("%w: POST %s: the message is %d bytes (payload %d plus %d of header and options); the limit is %d (coap.max_payload)",
			ErrTooLarge, req.Path, len(wire), len(req.Payload), len(wire)-len(req.Payload), e.cfg.MaxPayload)
	}
	e.stats.requests.Add(1)
	if err := e.write(wire); err != nil {
		return Response{}, e.writeErr(req.Path, err)
	}
	wait := time.Duration(float64(e.cfg.AckTimeout) * (1 + e.rnd()*(ackRandomFactor-1)))
	timer := time.NewTimer(wait)
	defer timer.Stop()
	sent, acked := 1, ex.acked
	for {
		select {
		case r := <-ex.resp:
			if r.Type == message.Reset {
				return Response{}, fmt.Errorf("coap: POST %s: the hub reset the exchange (it did not understand the request)", req.Path)
			}
			return r, nil
		case <-acked:
			if !wantBody {
				return Response{Type: message.Acknowledgement, Code: codes.Valid, MessageID: ex.mid}, nil
			}
			acked = nil // stop retransmitting; wait for the separate response
			timer.Reset(e.cfg.ResponseTimeout)
		case <-timer.C:
			if acked == nil {
				e.stats.timeouts.Add(1)
				return Response{}, fmt.Errorf("%w to POST %s: the hub accepted it but sent no response within %s (coap.response_timeout)",
					ErrTimeout, req.Path, e.cfg.ResponseTimeout)
			}
			if sent > e.cfg.MaxRetransmit {
				e.stats.timeouts.Add(1)
				return Response{}, fmt.Errorf("%w to POST %s after %d transmissions (coap.ack_timeout %s, coap.max_retransmit %d)",
					ErrTimeout, req.Path, sent, e.cfg.AckTimeout, e.cfg.MaxRetransmit)
			}
			e.stats.retransmissions.Add(1)
			sent++
			if err := e.write(wire); err != nil {
				return Response{}, e.writeErr(req.Path, err)
			}
			wait *= 2
			timer.Reset(wait)
		case <-e.dead:
			return Response{}, e.deadErr
		case <-ctx.Done():
			return Response{}, ctx.Err()
		}
	}
}

func (e *engine) writeErr(path string, err error) error {
	if errors.Is(err, driver.ErrTooLarge) {
		e.stats.tooLarge.Add(1)
		return fmt.Errorf("%w: POST %s: the link refused the datagram: %w", ErrTooLarge, path, err)
	}
	return &connError{fmt.Errorf("coap: POST %s: write: %w", path, err)}
}

// connError marks an error after which the connection is unusable.
type connError struct{ err error }

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }
