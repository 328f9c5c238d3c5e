package hubsim

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// CoAP transmission parameters (RFC 7252 §4.8), also those of the C SDK's
// default command timeout.
const (
	coapAckTimeout    = 2 * time.Second
	coapMaxRetransmit = 4
	// coapExchangeLifetime is how long a request's message id is remembered
	// to answer a retransmission from the cache (RFC 7252 §4.8.2).
	coapExchangeLifetime = 247 * time.Second
	// coapCacheSize bounds the remembered exchanges per session.
	coapCacheSize = 256
)

// coapSession is one peer of the endpoint: a DTLS connection, or a plain
// UDP source address. Datagrams of a session are handled one at a time, in
// arrival order, by the goroutine that reads them.
type coapSession struct {
	svc    *CoAPService
	remote string
	// secure is set for DTLS; psk is then the device the PSK identity
	// named, and every request must be for that device.
	secure bool
	psk    DeviceRef
	// write sends one datagram; closeFn releases the transport.
	write   func([]byte) error
	closeFn func()
	done    chan struct{}
	once    sync.Once
	wmu     sync.Mutex

	mu       sync.Mutex
	dev      DeviceRef // device that last authenticated or published here
	cache    map[uint16]coapExchange
	order    []uint16 // cache keys, oldest first
	nextMID  uint16
	pending  map[uint16]chan struct{} // separate responses awaiting an ACK
	lastSeen time.Time
}

type coapExchange struct {
	reply []byte // nil: the request got no reply
	at    time.Time
}

func (s *CoAPService) newSession(remote string, secure bool, psk DeviceRef, write func([]byte) error, closeFn func()) *coapSession {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return &coapSession{svc: s, remote: remote, secure: secure, psk: psk, write: write, closeFn: closeFn,
		done: make(chan struct{}), cache: map[uint16]coapExchange{}, pending: map[uint16]chan struct{}{},
		nextMID: binary.BigEndian.Uint16(b[:]), lastSeen: time.Now()}
}

// close ends the session: pending separate responses stop, the transport
// is released. Safe to call more than once.
func (c *coapSession) close() {
	c.once.Do(func() {
		close(c.done)
		if c.closeFn != nil {
			c.closeFn()
		}
	})
}

func (c *coapSession) send(b []byte) {
	if b == nil {
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.write(b); err != nil {
		c.svc.h.log.Debug("CoAP send failed", "remote", c.remote, "error", err)
	}
}

// handle processes one datagram and sends the immediate replies.
func (c *coapSession) handle(data []byte) {
	c.mu.Lock()
	c.lastSeen = time.Now()
	c.mu.Unlock()
	for _, r := range c.process(data) {
		c.send(r)
	}
}

func (c *coapSession) idleSince(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastSeen.Before(t)
}

func (c *coapSession) authenticated() DeviceRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dev
}

func (c *coapSession) setDevice(dev DeviceRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dev = dev
}

func (c *coapSession) mid() uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextMID++
	if c.nextMID == 0 {
		c.nextMID = 1
	}
	return c.nextMID
}

// cached returns the reply remembered for a request's message id.
func (c *coapSession) cached(mid uint16) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cache[mid]
	if !ok || time.Since(e.at) > coapExchangeLifetime {
		return nil, false
	}
	return e.reply, true
}

// remember records the reply to a request, dropping exchanges past their
// lifetime and the oldest beyond coapCacheSize.
func (c *coapSession) remember(mid uint16, reply []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	// order is oldest first, so the expired exchanges (a retransmission
	// of mid among them, if any) are at its front.
	for len(c.order) > 0 && (len(c.order) >= coapCacheSize || now.Sub(c.cache[c.order[0]].at) > coapExchangeLifetime) {
		delete(c.cache, c.order[0])
		c.order = c.order[1:]
	}
	if _, ok := c.cache[mid]; !ok {
		c.order = append(c.order, mid)
	}
	c.cache[mid] = coapExchange{reply: reply, at: now}
}

// acked stops the retransmission of the separate response with message
// id mid (an ACK or RST from the device).
func (c *coapSession) acked(mid uint16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.pending[mid]; ok {
		close(ch)
		delete(c.pending, mid)
	}
}

// sendSeparate sends a CON response and retransmits it with exponential
// backoff until the device acknowledges it, at most coapMaxRetransmit
// times (RFC 7252 §4.2).
func (c *coapSession) sendSeparate(mid uint16, data []byte) {
	ack := make(chan struct{})
	c.mu.Lock()
	c.pending[mid] = ack
	c.mu.Unlock()
	st := &c.svc.stats
	st.separate.Add(1)
	c.svc.h.Go(func(ctx context.Context) {
		defer func() {
			c.mu.Lock()
			if c.pending[mid] == ack {
				delete(c.pending, mid)
			}
			c.mu.Unlock()
		}()
		wait := coapAckTimeout + randDuration(coapAckTimeout/2)
		t := time.NewTimer(wait)
		defer t.Stop()
		for try := 0; ; try++ {
			c.send(data)
			select {
			case <-ack:
				return
			case <-ctx.Done():
				return
			case <-c.done:
				return
			case <-t.C:
			}
			if try == coapMaxRetransmit {
				st.unacked.Add(1)
				c.svc.h.log.Warn("CoAP separate response not acknowledged", "remote", c.remote, "mid", mid,
					"transmissions", try+1)
				return
			}
			st.retransmits.Add(1)
			wait *= 2
			t.Reset(wait)
		}
	})
}

func randDuration(max time.Duration) time.Duration {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return time.Duration(binary.BigEndian.Uint64(b[:]) % uint64(max))
}
