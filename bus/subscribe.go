package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// subscribeTimeout bounds the wait for the uplink to acknowledge a
// subscription request, and an explicit unsubscribe.
const subscribeTimeout = 15 * time.Second

// releaseTimeout bounds the wait for the uplink to answer the unsubscribe
// sent when a filter's last local subscriber leaves. Nobody waits for that
// answer but the next request for the same filter.
const releaseTimeout = 5 * time.Second

// filterRefs counts the local subscribers of each cloud filter, so that the
// cloud subscription is made once, by the first, and dropped when the last
// one leaves. Its zero value is ready.
type filterRefs struct {
	mu sync.Mutex // guards m and the fields of its entries, except lock
	m  map[string]*filterRef
}

// filterRef is one filter's entry. It exists while anyone subscribes to the
// filter or has a request for it under way.
type filterRef struct {
	// lock (capacity 1) is held while a request for the filter goes to the
	// uplink and its outcome is recorded. The uplink serves subscribe and
	// unsubscribe requests on separate loops, so without it a subscribe
	// published right after the last subscriber's unsubscribe could be
	// handled first and then undone.
	lock chan struct{}
	// users counts the local subscribers and the requests that hold the
	// entry; it is deleted when that falls to zero.
	users int
	n     int  // local subscribers
	qos   byte // the highest QoS they asked for
	cloud bool // the uplink holds the subscription, at qos
}

// get returns filter's entry, creating it, and counts one more user.
func (fr *filterRefs) get(filter string) *filterRef {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.m == nil {
		fr.m = make(map[string]*filterRef)
	}
	r := fr.m[filter]
	if r == nil {
		r = &filterRef{lock: make(chan struct{}, 1)}
		fr.m[filter] = r
	}
	r.users++
	return r
}

// put counts one user less and drops the entry when it was the last.
func (fr *filterRefs) put(filter string, r *filterRef) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	r.users--
	if r.users == 0 && fr.m[filter] == r {
		delete(fr.m, filter)
	}
}

// acquire takes r's request lock, or fails when ctx ends first.
func (r *filterRef) acquire(ctx context.Context) error {
	select {
	case r.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *filterRef) release() { <-r.lock }

// CloudSubscribe subscribes to the cloud filter through the uplink and
// returns the channel of matching messages, which closes when ctx ends. The
// bus subscription is made before the cloud one, so nothing that arrives
// after the broker's acknowledgement is missed. Each message must be Acked.
//
// Local subscribers of a filter share one cloud subscription: the first
// makes it, later ones only ask the uplink again when they want a higher
// QoS than it has, and when the last one's ctx ends the bus sends the
// uplink an unsubscribe request, so the filter is neither kept nor restored
// on reconnect. The subscription keeps the highest QoS asked for until then:
// a subscriber that leaves does not lower it for those that stay. A
// subscribe that comes while the last one's unsubscribe is under way waits
// for it, then subscribes again.
func (b *Bus) CloudSubscribe(ctx context.Context, filter string, qos byte) (<-chan *message.Message, error) {
	r := b.refs.get(filter)
	if err := r.acquire(ctx); err != nil {
		b.refs.put(filter, r)
		return nil, fmt.Errorf("subscribe %s: %w", filter, err)
	}
	ch, subCancel, abandoned, err := b.join(ctx, r, filter, qos)
	if abandoned {
		// The caller left while the uplink was making the subscription,
		// which may still complete, held by nobody. It is undone before
		// the next request for the filter, which waits on the lock handed
		// over here; the caller need not wait.
		go func() {
			defer b.refs.put(filter, r)
			defer r.release()
			b.unsubscribe(filter)
		}()
		return nil, err
	}
	r.release()
	if err != nil {
		b.refs.put(filter, r)
		return nil, err
	}
	context.AfterFunc(ctx, func() { b.leave(r, filter, subCancel) })
	return ch, nil
}

// join adds a local subscriber to r, asking the uplink for the filter when
// it does not hold it at qos yet. It runs under r's lock. abandoned means
// ctx ended while the uplink had the request and did not hold the filter
// before: the cloud subscription may be made for nobody.
func (b *Bus) join(ctx context.Context, r *filterRef, filter string, qos byte) (ch <-chan *message.Message, subCancel context.CancelFunc, abandoned bool, err error) {
	// A failed request must not leave a bus subscription behind that nobody
	// reads; cancelling subCtx ends it.
	subCtx, subCancel := context.WithCancel(ctx)
	ch, err = b.Subscribe(subCtx, Downlink(filter))
	if err != nil {
		subCancel()
		return nil, nil, false, fmt.Errorf("bus: subscribe %s: %w", filter, err)
	}
	b.refs.mu.Lock()
	want := qos
	if r.n > 0 {
		want = max(want, r.qos)
	}
	held := r.cloud && r.qos >= want
	wasCloud := r.cloud
	b.refs.mu.Unlock()
	if !held {
		// The channel lives as long as ctx; the request only until the
		// uplink answers, which it does at once (it records a subscription
		// made while offline), so a bound here only matters when no uplink
		// runs.
		rctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
		err := b.request(rctx, TopicUplinkSubscribe, filter, &want)
		cancel()
		if err != nil {
			subCancel()
			abandoned = !wasCloud && ctx.Err() != nil && errors.Is(err, ErrNoReply)
			return nil, nil, abandoned, fmt.Errorf("subscribe %s: %w", filter, err)
		}
	}
	b.refs.mu.Lock()
	r.n++
	r.qos, r.cloud = want, true
	b.refs.mu.Unlock()
	return ch, subCancel, false, nil
}

// leave removes a local subscriber whose ctx ended, and the cloud
// subscription with the last one.
func (b *Bus) leave(r *filterRef, filter string, subCancel context.CancelFunc) {
	subCancel()
	defer b.refs.put(filter, r)
	r.lock <- struct{}{} // whoever holds it is bounded by a request timeout
	defer r.release()
	b.refs.mu.Lock()
	r.n--
	last := r.n == 0
	drop := last && r.cloud
	if last {
		r.qos, r.cloud = 0, false
	}
	b.refs.mu.Unlock()
	if drop {
		b.unsubscribe(filter)
	}
}

// unsubscribe asks the uplink to drop filter and waits a while for the
// answer. Without one, the filter stays subscribed until the uplink
// handles the request or the session ends; there is nobody to tell.
func (b *Bus) unsubscribe(filter string) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := b.request(ctx, TopicUplinkUnsubscribe, filter, nil); err != nil {
		b.log.Debug("bus: cloud unsubscribe not confirmed", "filter", filter, "err", err)
	}
}

// CloudUnsubscribe drops the cloud subscription to filter at once, however
// many local subscribers it has (for `iotd unsub`). Their channels stay
// open, but nothing more arrives on them for filter until someone
// subscribes to it again, which makes the cloud subscription anew for all
// of them. It returns once the uplink answered; unsubscribing a filter the
// uplink does not hold is not an error.
func (b *Bus) CloudUnsubscribe(ctx context.Context, filter string) error {
	r := b.refs.get(filter)
	defer b.refs.put(filter, r)
	if err := r.acquire(ctx); err != nil {
		return fmt.Errorf("unsubscribe %s: %w", filter, err)
	}
	defer r.release()
	rctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	if err := b.request(rctx, TopicUplinkUnsubscribe, filter, nil); err != nil {
		return fmt.Errorf("unsubscribe %s: %w", filter, err)
	}
	b.refs.mu.Lock()
	r.cloud = false
	b.refs.mu.Unlock()
	return nil
}

// CloudSubscribers returns how many local subscribers filter has, counted
// as [Bus.CloudSubscribe] counts them.
func (b *Bus) CloudSubscribers(filter string) int {
	b.refs.mu.Lock()
	defer b.refs.mu.Unlock()
	if r := b.refs.m[filter]; r != nil {
		return r.n
	}
	return 0
}

// request sends a subscribe or unsubscribe request for filter to the
// uplink and waits for its answer; qos is nil for an unsubscribe.
func (b *Bus) request(ctx context.Context, topic, filter string, qos *byte) error {
	m := message.NewMessage(watermill.NewUUID(), nil)
	m.Metadata.Set(MetaFilter, filter)
	if qos != nil {
		m.Metadata.Set(MetaQoS, strconv.Itoa(int(*qos)))
	}
	_, err := b.Request(ctx, topic, m)
	return err
}

// CloudSubscribeWait is CloudSubscribe for a feature's own topics at start:
// while the uplink does not answer yet (or refuses), it logs at debug level
// and tries again every second. It fails only when ctx ends. Like any
// subscription, it holds the filter until ctx ends.
func (b *Bus) CloudSubscribeWait(ctx context.Context, filter string, qos byte) (<-chan *message.Message, error) {
	for {
		ch, err := b.CloudSubscribe(ctx, filter, qos)
		if err == nil {
			return ch, nil
		}
		b.log.Debug("bus: subscription pending", "filter", filter, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
