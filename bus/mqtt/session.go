package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/iotd/iotd/bus/outbox"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
)

// brokerURL is what paho is told; the connection itself comes from the link
// through the custom open function, so paho never dials it.
const brokerURL = "tcp://link.invalid:0"

// writeTimeout bounds how long paho waits to hand a packet to its writer and
// to write it. A publish made just as the connection dies waits this long in
// paho before failing (paho offers no way to cut that wait short), so it is
// kept short: 5 s writes 16 KiB, the C SDK's largest packet, at 28 kbit/s.
// The session does not wait for such a publish; it is queued again when it fails.
const writeTimeout = 5 * time.Second

// disconnectQuiesce is how long paho may take to send DISCONNECT on shutdown,
// in milliseconds.
const disconnectQuiesce = 250

// session is one MQTT connection over one link connection.
type session struct {
	client paho.Client
	conn   net.Conn
	done   chan struct{}   // closed when the session ends
	ctx    context.Context // ends when the session ends

	mu      sync.Mutex // guards settled and sends to the window
	settled bool       // the window was drained; late publishes settle themselves
}

// inflight is a message handed to paho and its completion token.
type inflight struct {
	msg *outMsg
	tok paho.Token
}

// session is the core.Link session function: it connects MQTT over conn,
// restores subscriptions, sends the queue, and returns when the connection
// is lost (with the reason) or ctx ends (nil).
func (u *Uplink) session(ctx context.Context, conn driver.Conn, ready func()) (err error) {
	defer func() {
		if err != nil {
			u.mu.Lock()
			u.lastErr = err.Error()
			u.mu.Unlock()
		}
	}()
	creds, err := u.cfg.Credentials()
	if err != nil {
		return fmt.Errorf("uplink: credentials: %w", err)
	}
	lost := make(chan error, 1)
	bc := newBufferedConn(conn)
	defer bc.Close()
	var handed atomic.Bool
	opts := paho.NewClientOptions().
		AddBroker(brokerURL).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			if handed.Swap(true) {
				return nil, errors.New("uplink: the link's connection was already used")
			}
			return bc, nil
		}).
		SetClientID(creds.ClientID).
		SetUsername(creds.Username).
		SetPassword(creds.Password).
		SetProtocolVersion(4). // MQTT 3.1.1 only; no fallback to 3.1, which would redial
		SetCleanSession(u.cfg.cleanSession()).
		SetKeepAlive(u.cfg.KeepAlive).
		SetConnectTimeout(u.cfg.ConnectTimeout).
		SetWriteTimeout(writeTimeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			u.deliver(m.Topic(), m.Qos(), m.Payload())
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	client := paho.NewClient(opts)
	tok := client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		_ = bc.Close() // unblocks the handshake
		<-tok.Done()
		return nil
	}
	if err := tok.Error(); err != nil {
		if rc := tok.(*paho.ConnectToken).ReturnCode(); rc >= packets.ErrRefusedBadProtocolVersion && rc <= packets.ErrRefusedNotAuthorised {
			return &core.ConnackError{ReturnCode: rc}
		}
		return fmt.Errorf("uplink: connect: %w", err)
	}

	sctx, endSession := context.WithCancel(ctx)
	defer endSession()
	s := &session{client: client, conn: bc, done: make(chan struct{}), ctx: sctx}
	u.mu.Lock()
	u.sess, u.since = s, time.Now()
	subs := make(map[string]byte, len(u.subs))
	for f, q := range u.subs {
		subs[f] = q
	}
	u.mu.Unlock()
	u.counts.sessions.Add(1)
	u.log.Info("uplink: MQTT session up", "client_id", creds.ClientID, "subscriptions", len(subs))

	// restore and send may be stuck inside paho (up to writeTimeout) when
	// the connection dies, so the session does not wait for them; Run does.
	// "connected" is announced once the subscriptions are back, so that a
	// feature reacting to it (re-reading its shadow, say) gets its answer.
	// Queued publishes wait for the subscriptions too: a feature that
	// subscribed and then published expects the answer to find its
	// subscription in place, on every connection.
	restored := make(chan struct{})
	u.bg.Go(func() {
		if u.restore(ctx, s, subs) {
			close(restored)
			ready()
		}
	})
	window := make(chan inflight, u.cfg.MaxInflight)
	slots := make(chan struct{}, u.cfg.MaxInflight)
	u.bg.Go(func() {
		select {
		case <-restored:
		case <-s.done:
			return
		}
		// The previous session's sender may still hold a message inside
		// paho's Publish; it is put back before this one sends.
		select {
		case u.sender <- struct{}{}:
		case <-s.done:
			return
		}
		defer func() { <-u.sender }()
		u.send(s, window, slots)
	})
	var held []inflight
	var workers sync.WaitGroup
	workers.Go(func() { held = u.confirm(s, window, slots) })

	select {
	case err = <-lost:
		err = fmt.Errorf("uplink: connection lost: %w", err)
	case <-ctx.Done():
		err = nil
	}
	u.mu.Lock()
	u.sess, u.since = nil, time.Time{}
	u.mu.Unlock()
	close(s.done)
	endSession()
	workers.Wait()
	// Stop paho; after this no token changes any more.
	client.Disconnect(disconnectQuiesce)
	_ = bc.Close()

	// Settle what paho held: confirmed ones are replied to, the rest go
	// back to the head of the queue, in their original order.
	s.mu.Lock()
	s.settled = true
	for m := range drain(window) {
		held = append(held, m)
	}
	s.mu.Unlock()
	var back []*outMsg
	for _, f := range held {
		if m := u.settle(f); m != nil {
			back = append(back, m)
		}
	}
	if err != nil && len(back) > 0 {
		back = u.blame(back, err)
	}
	u.requeue(back)
	if len(back) > 0 {
		u.log.Info("uplink: unconfirmed messages queued again", "count", len(back))
	}
	return err
}

// blame counts a lost session against the oldest message it left
// unconfirmed — the one a broker that refuses a message by closing the
// connection was reading — and parks that message once it has ended
// DeadLetterAfter sessions. The next session sends the oldest message alone
// until it is confirmed, so the count falls on the culprit, not on the
// messages that happened to be in flight with it. It returns what goes back
// to the queue.
func (u *Uplink) blame(back []*outMsg, cause error) []*outMsg {
	m := back[0]
	u.mu.Lock()
	m.attempts++
	u.careful = true
	n := m.attempts
	u.mu.Unlock()
	if n >= u.cfg.DeadLetterAfter {
		u.park(m, fmt.Sprintf("sending it ended the MQTT session %d times (last: %v): the broker closes the connection on this message (too large for it, or a topic it refuses?)", n, cause))
		return back[1:]
	}
	if m.disk && m.seq != 0 {
		if err := u.cfg.Outbox.SetAttempts(m.seq, n); err != nil {
			u.log.Warn("uplink: outbox: attempts not recorded", "seq", m.seq, "err", err)
		}
	}
	return back
}

func done(tok paho.Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}

// drain yields what remains in ch without blocking.
func drain(ch chan inflight) func(func(inflight) bool) {
	return func(yield func(inflight) bool) {
		for {
			select {
			case f := <-ch:
				if !yield(f) {
					return
				}
			default:
				return
			}
		}
	}
}

// restore re-sends the stored subscriptions after a (re)connect. It reports
// whether the broker answered (refusals included); false means the session
// ended first.
func (u *Uplink) restore(ctx context.Context, s *session, subs map[string]byte) bool {
	if len(subs) == 0 {
		return true
	}
	refused, err := s.subscribe(ctx, subs)
	if err != nil {
		u.log.Warn("uplink: subscriptions not restored; retried on the next connection", "err", err)
		return false
	}
	for _, f := range refused {
		u.log.Error("uplink: "+refusedError(f).Error(), "filter", f)
	}
	return true
}

// send hands queued messages to paho, at most MaxInflight unconfirmed at a
// time, until the session ends. After a session that ended with messages
// unconfirmed, the first one goes alone: see blame. It runs holding
// u.sender, and returns only once the message it popped is in the window
// or back in the queue.
//
// A Publish that paho is still handling when the session settles (the
// connection dropped under it; paho may take writeTimeout to give up) is
// not in the window: send puts its message back itself. requeue merges it
// at its place, behind the older ones the session put back, whichever
// comes first.
func (u *Uplink) send(s *session, window chan<- inflight, slots chan struct{}) {
	unreadable := minUnreadableWait // the wait before a payload the store failed to read is read again
	for {
		select {
		case slots <- struct{}{}:
		case <-s.done:
			return
		}
		if u.pace != nil && u.pace.Wait(s.ctx) != nil {
			return // the session ended
		}
		m := u.pop(s.done)
		if m == nil {
			return
		}
		if m.payload == nil && m.disk {
			if !u.roomFor(m, s.done) {
				u.requeue([]*outMsg{m})
				return
			}
			p, err := u.cfg.Outbox.Payload(m.seq)
			if errors.Is(err, outbox.ErrDisk) {
				// The store failed, not the record (an I/O error, a NATS
				// server out of reach): the message keeps its place and
				// is read again, instead of being parked as if it were
				// damaged.
				<-slots
				u.mu.Lock()
				u.release(m)
				u.mu.Unlock()
				u.requeue([]*outMsg{m})
				u.log.Warn("uplink: outbox: a payload could not be read; the queue waits and reads it again", "seq", m.seq, "in", unreadable, "err", err)
				select {
				case <-time.After(unreadable):
				case <-s.done:
					return
				}
				unreadable = min(2*unreadable, maxUnreadableWait)
				continue
			}
			if err != nil {
				<-slots
				u.park(m, fmt.Sprintf("its payload could not be read from the outbox: %v", err))
				continue
			}
			unreadable = minUnreadableWait
			m.payload = p
		}
		u.mu.Lock()
		careful := u.careful
		u.mu.Unlock()
		u.flight.Add(1)
		f := inflight{msg: m, tok: s.client.Publish(m.topic, m.qos, false, m.payload)}
		if u.published != nil {
			u.published(m)
		}
		s.mu.Lock()
		if s.settled {
			s.mu.Unlock()
			if m := u.settle(f); m != nil {
				u.requeue([]*outMsg{m})
			}
			return
		}
		window <- f // never blocks: a slot was taken
		s.mu.Unlock()
		if careful {
			select {
			case <-f.tok.Done():
			case <-s.done:
				return
			}
			if f.tok.Error() == nil {
				u.mu.Lock()
				u.careful = false
				u.mu.Unlock()
			}
		}
	}
}

// The waits before the sender reads again a payload the outbox failed to
// read: doubled at each failure, back to the least after a success.
const (
	minUnreadableWait = 250 * time.Millisecond
	maxUnreadableWait = 30 * time.Second
)

// settle ends the flight of f after its session ended: a confirmed message
// is replied to and nil returned; an unconfirmed one is returned, to be
// queued again.
func (u *Uplink) settle(f inflight) *outMsg {
	u.flight.Add(-1)
	if done(f.tok) && f.tok.Error() == nil {
		u.complete(f.msg)
		return nil
	}
	return f.msg
}

// confirm waits for paho to confirm each message, in order, and replies. It
// returns the message it was waiting for when the session ended, if any.
// A publish that fails while the session is up means the connection is
// failing: confirm closes it so that the session ends and the message is
// sent again on the next one.
func (u *Uplink) confirm(s *session, window <-chan inflight, slots <-chan struct{}) []inflight {
	for {
		var f inflight
		select {
		case f = <-window:
		case <-s.done:
			return nil
		}
		select {
		case <-f.tok.Done():
		case <-s.done:
			return []inflight{f}
		}
		if err := f.tok.Error(); err != nil {
			u.log.Debug("uplink: publish failed; dropping the connection to resend", "topic", f.msg.topic, "err", err)
			_ = s.conn.Close()
			<-s.done
			return []inflight{f}
		}
		u.flight.Add(-1)
		u.complete(f.msg)
		<-slots
	}
}

// subscribe subscribes to filters and waits for the SUBACK. It returns the
// filters the broker refused, or an error when the session or ctx ended
// first.
func (s *session) subscribe(ctx context.Context, filters map[string]byte) ([]string, error) {
	tok := s.client.SubscribeMultiple(filters, nil)
	if err := s.wait(ctx, tok); err != nil {
		return nil, err
	}
	var refused []string
	for f, rc := range tok.(*paho.SubscribeToken).Result() {
		if rc > 2 { // 0x80: failure
			refused = append(refused, f)
		}
	}
	return refused, nil
}

func (s *session) unsubscribe(ctx context.Context, filter string) error {
	return s.wait(ctx, s.client.Unsubscribe(filter))
}

func (s *session) wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-s.done:
		return errors.New("uplink: connection lost before the broker answered")
	case <-ctx.Done():
		return ctx.Err()
	}
}
