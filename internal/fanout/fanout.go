// Package fanout hands each value to every local subscriber without ever
// blocking the sender: features use it to stream what arrives from the cloud
// (RRPC requests, broadcasts) to local API clients.
package fanout

import (
	"context"
	"sync"
)

// Set is a set of subscriber channels. Its zero value is ready to use, and it
// is safe for concurrent use.
type Set[T any] struct {
	mu     sync.Mutex // guards the fields below
	subs   map[uint64]chan T
	next   uint64
	closed bool
}

// Subscribe returns a channel with room for buffer values that receives
// every value sent from now on. It is closed when ctx ends or the set is
// closed (at once, if it already is).
func (s *Set[T]) Subscribe(ctx context.Context, buffer int) <-chan T {
	ch := make(chan T, buffer)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		close(ch)
		return ch
	}
	if s.subs == nil {
		s.subs = map[uint64]chan T{}
	}
	id := s.next
	s.next++
	s.subs[id] = ch
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c, ok := s.subs[id]; ok {
			delete(s.subs, id)
			close(c)
		}
	})
	return ch
}

// Send offers v to every subscriber. A subscriber whose buffer is full
// misses it rather than holding up the sender and the others. It reports
// how many got v and how many missed it.
func (s *Set[T]) Send(v T) (delivered, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.subs {
		select {
		case ch <- v:
			delivered++
		default:
			dropped++
		}
	}
	return delivered, dropped
}

// Len returns the number of subscribers.
func (s *Set[T]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// Close closes every subscriber's channel; later subscribers get a closed
// channel.
func (s *Set[T]) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for id, ch := range s.subs {
		delete(s.subs, id)
		close(ch)
	}
}
