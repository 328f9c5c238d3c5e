package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus/natsconf"
)

// Config configures a [Bus]. The zero value works.
type Config struct {
	// OutputBuffer is how many messages may wait for each subscriber
	// (default 4096). A publish that finds a subscriber's queue full drops
	// the message for that subscriber (see [Bus.Publish]); a request
	// waits for room (see [Bus.Request]).
	OutputBuffer int64 `yaml:"output_buffer" json:"output_buffer"`

	// Backend is where messages travel: "" or "inprocess" (the default,
	// this process only), or "nats" (a NATS JetStream stream shared by
	// every process on it; see remote.go and README's "The bus on NATS").
	Backend string `yaml:"backend" json:"backend,omitempty"`
	// The NATS backend's settings (keys url, creds_file, stream, ...).
	NATS natsconf.Config `yaml:",inline" json:"nats"`
}

// defaultOutputBuffer is [Config.OutputBuffer]'s default: enough for a
// burst from the hub to wait for a feature that is busy for a while, small
// enough that a stuck subscriber holds a few megabytes at most (plus the
// payloads).
const defaultOutputBuffer = 4096

// Bus is the in-process message bus. Create it with [New] and release it with
// Close. It is safe for concurrent use.
type Bus struct {
	log        *slog.Logger
	replyTopic string
	limit      int // messages queued per subscriber

	subMu   sync.RWMutex               // guards topics and closing
	topics  map[string][]*subscription // copied on write
	closing bool
	closed  chan struct{} // closed by Close: every subscription ends
	workers sync.WaitGroup
	dropped atomic.Uint64

	mu      sync.Mutex // guards pending and isDone
	pending map[string]chan *message.Message
	isDone  bool

	cancel context.CancelFunc
	done   chan struct{} // closed when the replies' subscription ended

	refs filterRefs
	// direct is the in-process uplink's publish path, when one runs.
	direct atomic.Pointer[DirectPublisher]
	// remote carries every publish and subscription when the backend is
	// not the in-process one.
	remote Remote
}

// New starts a bus. log may be nil.
func New(cfg Config, log *slog.Logger) (*Bus, error) {
	if cfg.Backend != "" && cfg.Backend != "inprocess" {
		r, err := openRemote(cfg, log)
		if err != nil {
			return nil, err
		}
		return NewRemote(cfg, log, r)
	}
	return start(cfg, log, nil)
}

func start(cfg Config, log *slog.Logger, remote Remote) (*Bus, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.OutputBuffer <= 0 {
		cfg.OutputBuffer = defaultOutputBuffer
	}
	b := &Bus{
		log:        log,
		replyTopic: TopicReply + "." + watermill.NewShortUUID(),
		limit:      int(min(cfg.OutputBuffer, 1<<30)),
		topics:     make(map[string][]*subscription),
		closed:     make(chan struct{}),
		pending:    make(map[string]chan *message.Message),
		remote:     remote,
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	if remote == nil {
		// In process, the replies are dispatched by the subscription's
		// delivery goroutine, which runs only while replies are queued.
		s, err := b.subscribe(ctx, b.replyTopic, b.dispatchReply)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("bus: subscribe replies: %w", err)
		}
		b.done = s.done
		return b, nil
	}
	replies, err := b.Subscribe(ctx, b.replyTopic)
	if err != nil {
		cancel()
		_ = remote.Close()
		return nil, fmt.Errorf("bus: subscribe replies: %w", err)
	}
	b.done = make(chan struct{})
	go func() {
		defer close(b.done)
		for m := range replies {
			b.dispatchReply(m)
		}
	}()
	return b, nil
}

// Publisher returns the bus as a watermill Publisher: its Publish is
// [Bus.Publish], its Close closes the bus.
func (b *Bus) Publisher() message.Publisher { return b }

// Subscriber returns the bus as a watermill Subscriber: its Subscribe is
// [Bus.Subscribe], its Close closes the bus.
func (b *Bus) Subscriber() message.Subscriber { return b }

// Publish publishes msgs on topic: each current subscriber of topic gets
// them, in this order, after the messages published before.
//
// Order: for each subscriber, the messages of a topic arrive in the order
// their Publish calls happened, for calls made by one goroutine or ordered
// by happens-before (a publish made after another returned). Concurrent
// calls are ordered arbitrarily, and not necessarily alike for every
// subscriber. Each subscriber gets the next message once it acked the
// previous one (a Nack hands the same message again); a subscriber that
// Subscribe returned to before Publish was called gets the message.
//
// Publish never waits for a subscriber: it appends the messages to each
// subscriber's queue and returns, so it is safe from a network client's
// callback and from a handler that has not acked its own message yet. The
// queue holds [Config.OutputBuffer] messages; when a subscriber's is full
// the messages that do not fit are dropped for that subscriber alone (the
// ones it already has keep their order, and the other subscribers are not
// affected), counted in [Bus.Dropped] and logged, and Publish returns an
// error wrapping [ErrQueueFull]. Blocking instead would let one stuck
// subscriber stall the MQTT client that publishes downlinks, or the Link
// that publishes its states. Messages published on a topic nobody
// subscribes to are dropped without error. Publish fails once the bus is
// closed.
func (b *Bus) Publish(topic string, msgs ...*message.Message) error {
	return b.publish(nil, topic, msgs)
}

// Subscribe returns a channel of the messages published on topic from now on,
// closed when ctx ends or the bus closes. Each message must be Acked (or
// Nacked): the next one comes after that. Messages still queued when the
// channel closes are dropped.
func (b *Bus) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if b.remote != nil {
		return b.remote.Subscribe(ctx, topic)
	}
	s, err := b.subscribe(ctx, topic, nil)
	if err != nil {
		return nil, err
	}
	return s.out, nil
}

// SubscribeFunc is [Bus.Subscribe] with a handler instead of a channel: fn
// is called with each message published on topic from now on, one at a
// time and in order, until ctx ends or the bus closes; done closes once fn
// will not be called any more. A message is delivered when fn returns
// (fn need not Ack it). In process, fn runs on the subscription's delivery
// goroutine, which exists only while messages are queued, so an idle
// subscription costs no goroutine; fn must not wait for another message of
// the same subscription.
func (b *Bus) SubscribeFunc(ctx context.Context, topic string, fn func(*message.Message)) (done <-chan struct{}, err error) {
	if b.remote == nil {
		s, err := b.subscribe(ctx, topic, fn)
		if err != nil {
			return nil, err
		}
		return s.done, nil
	}
	ch, err := b.remote.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	loop := make(chan struct{})
	go func() {
		defer close(loop)
		for m := range ch {
			fn(m)
			m.Ack()
		}
	}()
	return loop, nil
}

// ErrNoReply means a request got no reply before its context ended; usually
// nobody serves the topic (the uplink is not running).
var ErrNoReply = errors.New("bus: no reply")

// Request publishes req on topic and waits for the reply sent with
// [Bus.Reply]. It sets req's [MetaReplyTo] and [MetaCorrelationID]. A reply
// whose [MetaError] is set is returned together with an error carrying that
// text. Unlike [Bus.Publish], it waits, until ctx ends, for room in a
// subscriber's full queue: its caller waits for the reply anyway, and a
// burst of requests then slows down instead of failing.
func (b *Bus) Request(ctx context.Context, topic string, req *message.Message) (*message.Message, error) {
	id := watermill.NewUUID()
	ch := make(chan *message.Message, 1)
	b.mu.Lock()
	if b.isDone {
		b.mu.Unlock()
		return nil, errClosed
	}
	b.pending[id] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
	}()

	req.Metadata.Set(MetaReplyTo, b.replyTopic)
	req.Metadata.Set(MetaCorrelationID, id)
	if err := b.publish(ctx, topic, []*message.Message{req}); err != nil {
		return nil, fmt.Errorf("bus: request on %s: %w", topic, err)
	}
	select {
	case rep, ok := <-ch:
		if !ok {
			return nil, errors.New("bus: closed while waiting for a reply")
		}
		if e := rep.Metadata.Get(MetaError); e != "" {
			return rep, errors.New(e)
		}
		return rep, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w on %s: %w", ErrNoReply, topic, context.Cause(ctx))
	}
}

// Reply sends rep as the answer to req. It is a no-op when req expects no
// reply. Pass a nil rep for an empty success reply; use [ErrorReply] for a
// failure.
func (b *Bus) Reply(req, rep *message.Message) error {
	to := req.Metadata.Get(MetaReplyTo)
	if to == "" {
		return nil
	}
	if rep == nil {
		rep = message.NewMessage(watermill.NewUUID(), nil)
	}
	rep.Metadata.Set(MetaCorrelationID, req.Metadata.Get(MetaCorrelationID))
	if b.remote == nil && to == b.replyTopic {
		// A reply to this bus's own Request goes straight to it. Through
		// the reply topic's queue it could be dropped: a server answers
		// as fast as it takes requests, the queue holds OutputBuffer
		// replies, and its delivery goroutine may wait behind every
		// requester that a freed slot in the server's queue woke.
		select {
		case <-b.closed:
			return errClosed
		default:
		}
		b.dispatchReply(rep.Copy())
		return nil
	}
	return b.Publish(to, rep)
}

// ErrorReply returns a reply message that reports err.
func ErrorReply(err error) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), nil)
	m.Metadata.Set(MetaError, err.Error())
	return m
}

// dispatchReply hands a reply to the Request waiting for it.
func (b *Bus) dispatchReply(m *message.Message) {
	m.Ack()
	id := m.Metadata.Get(MetaCorrelationID)
	b.mu.Lock()
	ch := b.pending[id]
	b.mu.Unlock()
	if ch != nil {
		select {
		case ch <- m:
		default: // a duplicate reply; the first one won
		}
	}
}

// Close stops the bus: subscriber channels close, messages still queued
// for them are dropped, pending requests fail, and publishes fail from
// then on. It returns once every delivery goroutine has ended.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.isDone {
		b.mu.Unlock()
		return nil
	}
	b.isDone = true
	b.mu.Unlock()
	b.subMu.Lock()
	b.closing = true
	close(b.closed)
	var subs []*subscription
	for _, ts := range b.topics {
		subs = append(subs, ts...)
	}
	b.subMu.Unlock()
	for _, s := range subs {
		s.stop()
	}
	b.workers.Wait()
	var err error
	if b.remote != nil {
		err = b.remote.Close()
	}
	b.cancel()
	<-b.done
	b.mu.Lock()
	for id, ch := range b.pending {
		close(ch)
		delete(b.pending, id)
	}
	b.mu.Unlock()
	return err
}
