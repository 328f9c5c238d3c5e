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
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// Config configures a [Bus]. The zero value works.
type Config struct {
	// OutputBuffer is the per-subscriber channel buffer (default 256).
	OutputBuffer int64 `yaml:"output_buffer" json:"output_buffer"`
}

// Bus is the in-process message bus. Create it with [New] and release it with
// Close. It is safe for concurrent use.
type Bus struct {
	ps         *gochannel.GoChannel
	log        *slog.Logger
	replyTopic string

	mu      sync.Mutex // guards pending, serving and closed
	pending map[string]chan *message.Message
	serving map[string]int // topic → subscriptions to it
	closed  bool

	cancel context.CancelFunc
	done   chan struct{}

	refs filterRefs
	// direct is the in-process uplink's publish path, when one runs.
	direct atomic.Pointer[DirectPublisher]
}

// New starts a bus. log may be nil.
func New(cfg Config, log *slog.Logger) (*Bus, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.OutputBuffer <= 0 {
		cfg.OutputBuffer = 256
	}
	// watermill builds log attributes for every message before the level
	// check; skip that work entirely unless someone reads debug logs.
	var wlog watermill.LoggerAdapter = watermill.NopLogger{}
	if log.Enabled(context.Background(), slog.LevelDebug) {
		wlog = watermill.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	}
	b := &Bus{
		ps:         gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: cfg.OutputBuffer}, wlog),
		log:        log,
		replyTopic: TopicReply + "." + watermill.NewShortUUID(),
		pending:    make(map[string]chan *message.Message),
		serving:    make(map[string]int),
		done:       make(chan struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	replies, err := b.ps.Subscribe(ctx, b.replyTopic)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("bus: subscribe replies: %w", err)
	}
	go b.dispatchReplies(replies)
	return b, nil
}

// Publisher returns the bus as a watermill Publisher.
func (b *Bus) Publisher() message.Publisher { return b.ps }

// Subscriber returns the bus as a watermill Subscriber.
func (b *Bus) Subscriber() message.Subscriber { return b.ps }

// Publish publishes msgs on topic. Messages published on a topic nobody
// subscribes to are dropped.
func (b *Bus) Publish(topic string, msgs ...*message.Message) error {
	return b.ps.Publish(topic, msgs...)
}

// Subscribe returns a channel of the messages published on topic from now on,
// closed when ctx ends or the bus closes. Each message must be Acked.
func (b *Bus) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	ch, err := b.ps.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.serving[topic]++
	b.mu.Unlock()
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		if b.serving[topic]--; b.serving[topic] <= 0 {
			delete(b.serving, topic)
		}
		b.mu.Unlock()
	})
	return ch, nil
}

// ErrNoReply means a request got no reply before its context ended; usually
// nobody serves the topic (the uplink is not running).
var ErrNoReply = errors.New("bus: no reply")

// Request publishes req on topic and waits for the reply sent with
// [Bus.Reply]. It sets req's [MetaReplyTo] and [MetaCorrelationID]. A reply
// whose [MetaError] is set is returned together with an error carrying that
// text.
func (b *Bus) Request(ctx context.Context, topic string, req *message.Message) (*message.Message, error) {
	id := watermill.NewUUID()
	ch := make(chan *message.Message, 1)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errors.New("bus: closed")
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
	if err := b.ps.Publish(topic, req); err != nil {
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
	return b.ps.Publish(to, rep)
}

// ErrorReply returns a reply message that reports err.
func ErrorReply(err error) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), nil)
	m.Metadata.Set(MetaError, err.Error())
	return m
}

func (b *Bus) dispatchReplies(replies <-chan *message.Message) {
	defer close(b.done)
	for m := range replies {
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
}

// Close stops the bus; subscriber channels close and pending requests fail.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	err := b.ps.Close()
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
