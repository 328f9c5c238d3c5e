package bus

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// ErrQueueFull is wrapped by the error of a publish that a subscriber's
// queue had no room for: the message was dropped for that subscriber (the
// others got it). See [Config.OutputBuffer].
var ErrQueueFull = errors.New("subscriber queue full")

// errClosed is returned by every operation on a closed bus.
var errClosed = errors.New("bus: closed")

// subscription is one Subscribe: a bounded FIFO of the messages published on
// its topic since, and a delivery goroutine (drain) that hands them to out
// one at a time, each once the previous one was acked, or to handle.
//
// The delivery goroutine exists only while messages are queued: a publish
// to an idle subscription starts it, and it returns when the queue is
// empty. There is at most one at a time (running), so the order holds. A
// device runs a dozen subscriptions that are idle nearly all the time; a
// goroutine each cost a fleet of 10 000 devices over a gigabyte of stacks.
type subscription struct {
	b     *Bus
	topic string
	ctx   context.Context // the subscriber's; messages carry it
	// out is the subscriber's channel; nil for a handler subscription,
	// whose handle is called with each message instead and done closed
	// when it ended.
	out    chan *message.Message
	handle func(*message.Message)
	done   chan struct{}

	mu      sync.Mutex
	queue   []*message.Message // queue[head:] wait, oldest first
	head    int
	running bool          // a delivery goroutine runs
	ended   bool          // ctx ended or the bus closed; queue is dropped
	space   chan struct{} // closed when a message leaves a full queue; nil unless a publisher waits
	dropped uint64        // messages dropped because the queue was full

	stopWatch func() bool // unregisters the ctx watch
}

// subscribe registers a subscription to topic that lasts until ctx ends or
// the bus closes. With a nil handle its messages go to s.out.
func (b *Bus) subscribe(ctx context.Context, topic string, handle func(*message.Message)) (*subscription, error) {
	s := &subscription{b: b, topic: topic, ctx: ctx, handle: handle}
	if handle == nil {
		s.out = make(chan *message.Message)
	} else {
		s.done = make(chan struct{})
	}
	b.subMu.Lock()
	if b.closing {
		b.subMu.Unlock()
		return nil, errClosed
	}
	// Copy on write: publishers iterate the slice they loaded without a
	// lock.
	b.topics[topic] = append(slices.Clip(b.topics[topic]), s)
	b.workers.Add(1)
	b.subMu.Unlock()
	// The end of ctx is watched without a goroutine of its own (for the
	// contexts of package context).
	stop := context.AfterFunc(ctx, s.stop)
	s.mu.Lock()
	s.stopWatch = stop
	s.mu.Unlock()
	return s, nil
}

// remove unregisters s; publishes that start afterwards do not see it.
func (b *Bus) remove(s *subscription) {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	subs := slices.DeleteFunc(slices.Clone(b.topics[s.topic]), func(x *subscription) bool { return x == s })
	if len(subs) == 0 {
		delete(b.topics, s.topic)
	} else {
		b.topics[s.topic] = subs
	}
}

// subscribers returns the current subscriptions to topic; the slice is
// never modified.
func (b *Bus) subscribers(topic string) ([]*subscription, error) {
	b.subMu.RLock()
	defer b.subMu.RUnlock()
	if b.closing {
		return nil, errClosed
	}
	return b.topics[topic], nil
}

// drain delivers s's queue until it is empty or s ended. It is started by
// enqueue, which set running; the goroutine that sees s ended while
// running finishes s.
func (s *subscription) drain() {
	for {
		m, ok := s.next()
		if !ok {
			return
		}
		if !s.deliver(m) {
			s.stop() // ctx ended or the bus closed; next finishes s
		}
	}
}

// next takes the oldest queued message out of the queue. When the queue is
// empty it clears running and returns false; when s ended it finishes s
// and returns false.
func (s *subscription) next() (*message.Message, bool) {
	s.mu.Lock()
	if s.ended {
		s.running = false
		s.mu.Unlock()
		s.finish()
		return nil, false
	}
	if s.head == len(s.queue) {
		s.running = false
		s.queue, s.head = s.queue[:0], 0
		if cap(s.queue) > 64 {
			s.queue = nil // a burst's array is not kept while idle
		}
		s.mu.Unlock()
		return nil, false
	}
	m := s.queue[s.head]
	s.queue[s.head] = nil
	s.head++
	if s.head >= 64 && s.head > len(s.queue)/2 {
		// Keep the array from growing while the queue never empties.
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
	if s.space != nil {
		close(s.space)
		s.space = nil
	}
	s.mu.Unlock()
	return m, true
}

// deliver hands a copy of m to the subscriber and waits for its Ack; a
// Nack hands a fresh copy again. A handler subscription's handle is called
// instead, and m is delivered when it returns. It returns false when the
// subscription ends first.
func (s *subscription) deliver(m *message.Message) bool {
	for {
		c := m.Copy() // its own Ack and Nack, for each subscriber and attempt
		c.SetContext(s.ctx)
		if s.handle != nil {
			if s.ctx.Err() != nil {
				return false
			}
			select {
			case <-s.b.closed:
				return false
			default:
			}
			s.handle(c)
			return true
		}
		select {
		case s.out <- c:
		case <-s.ctx.Done():
			return false
		case <-s.b.closed:
			return false
		}
		select {
		case <-c.Acked():
			return true
		case <-c.Nacked():
		case <-s.ctx.Done():
			return false
		case <-s.b.closed:
			return false
		}
	}
}

// stop ends s when its ctx ended or the bus closed: it drops the queue,
// releases the publishers waiting for room, unregisters s and, unless a
// delivery goroutine runs (which then does), finishes s.
func (s *subscription) stop() {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	s.queue, s.head = nil, 0
	if s.space != nil {
		close(s.space)
		s.space = nil
	}
	idle := !s.running
	s.mu.Unlock()
	s.b.remove(s)
	if idle {
		s.finish()
	}
}

// finish closes the subscriber's channel (or done) once nothing can be
// delivered any more; it runs once, after stop.
func (s *subscription) finish() {
	s.mu.Lock()
	stopWatch := s.stopWatch
	s.mu.Unlock()
	if stopWatch != nil {
		stopWatch()
	}
	if s.out != nil {
		close(s.out)
	} else {
		close(s.done)
	}
	s.b.workers.Done()
}

// enqueue appends msgs to s's queue. When the queue is full, it drops the
// messages that do not fit and returns how many, or, with a non-nil ctx,
// waits for room until ctx ends (and then drops the rest).
func (s *subscription) enqueue(ctx context.Context, msgs []*message.Message) (dropped int) {
	limit := s.b.limit
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, m := range msgs {
		for !s.ended && len(s.queue)-s.head >= limit {
			if ctx == nil {
				return s.drop(len(msgs) - i)
			}
			if s.space == nil {
				s.space = make(chan struct{})
			}
			space := s.space
			s.mu.Unlock()
			select {
			case <-space:
			case <-ctx.Done():
			case <-s.b.closed:
				s.mu.Lock()
				return 0 // the queue is dropped: not a drop for being full
			}
			s.mu.Lock()
			if ctx.Err() != nil && !s.ended && len(s.queue)-s.head >= limit {
				return s.drop(len(msgs) - i)
			}
		}
		if s.ended {
			return 0 // nobody is left to read it: not a drop
		}
		s.queue = append(s.queue, m)
		if !s.running {
			s.running = true
			go s.drain()
		}
	}
	return 0
}

// drop counts n messages dropped for s and logs it, at the first drop and
// then at every power of two, so that a stuck subscriber does not flood
// the log. It runs under s.mu.
func (s *subscription) drop(n int) int {
	before := s.dropped
	s.dropped += uint64(n)
	s.b.dropped.Add(uint64(n))
	if before == 0 || bits.Len64(before) != bits.Len64(s.dropped) {
		s.b.log.Warn("bus: subscriber too slow, messages dropped", "topic", s.topic, "dropped", s.dropped, "queue", s.b.limit)
	}
	return n
}

// publish snapshots msgs and appends them to the queue of every current
// subscriber of topic. With a nil ctx it never blocks: a subscriber whose
// queue is full loses the messages that do not fit. With a ctx, it waits
// for room until ctx ends.
func (b *Bus) publish(ctx context.Context, topic string, msgs []*message.Message) error {
	if b.remote != nil {
		return b.remotePublish(topic, msgs)
	}
	subs, err := b.subscribers(topic)
	if err != nil || len(subs) == 0 {
		return err
	}
	// The publisher may reuse its messages; subscribers get copies of what
	// they were when published, as with watermill's GoChannel.
	snap := make([]*message.Message, len(msgs))
	for i, m := range msgs {
		snap[i] = m.Copy()
	}
	var full int
	for _, s := range subs {
		if s.enqueue(ctx, snap) > 0 {
			full++
		}
	}
	if full > 0 {
		return fmt.Errorf("bus: publish on %s: %w for %d of %d subscribers", topic, ErrQueueFull, full, len(subs))
	}
	return nil
}

// Dropped returns how many messages the bus dropped since it started
// because a subscriber's queue was full (a message dropped for two
// subscribers counts twice).
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }
