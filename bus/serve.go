package bus

import (
	"context"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Serve subscribes to each topic of handlers and calls its handler for
// every message, until ctx ends or stop is called. In process the handlers
// run on the subscriptions' delivery goroutines, which exist only while
// messages are queued; over a remote backend, on one goroutine per topic.
// Each message is acked before its handler runs: the bus holds the next
// message of a topic until then, and a handler that replies later (an
// uplink waiting for the broker) must not hold up the requests behind it.
// Handlers of one topic run one at a time, in the order of the messages.
// stop ends the loops and waits for them; on error nothing is left running.
// It is the serving side of the uplink protocol, shared by every uplink.
func (b *Bus) Serve(ctx context.Context, handlers map[string]func(*message.Message)) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var loops sync.WaitGroup
	var ended []chan struct{} // the handler subscriptions' done
	stop = func() {
		cancel()
		loops.Wait()
		for _, d := range ended {
			<-d
		}
	}
	for topic, h := range handlers {
		if b.remote == nil {
			s, err := b.subscribe(ctx, topic, func(m *message.Message) {
				m.Ack()
				h(m)
			})
			if err != nil {
				stop()
				return nil, fmt.Errorf("bus: subscribe %s: %w", topic, err)
			}
			ended = append(ended, s.done)
			continue
		}
		ch, err := b.Subscribe(ctx, topic)
		if err != nil {
			stop()
			return nil, fmt.Errorf("bus: subscribe %s: %w", topic, err)
		}
		loops.Go(func() {
			for m := range ch {
				m.Ack()
				h(m)
			}
		})
	}
	return stop, nil
}

// served reports whether anyone subscribes to topic (an uplink's Serve
// loop, for the uplink topics), so that a request there fails at once
// instead of waiting for a reply nobody sends.
func (b *Bus) served(topic string) bool {
	if b.remote != nil {
		return true // the server may be in another process: ask
	}
	subs, _ := b.subscribers(topic)
	return len(subs) > 0
}
