package bus

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core/linkstate"

	"github.com/iotd/iotd/internal/leakcheck"
)

func numbered(i int) *message.Message {
	return message.NewMessage(watermill.NewUUID(), []byte(strconv.Itoa(i)))
}

// collect reads n messages from ch, acking each on receipt, and returns
// their payloads as numbers.
func collect(t *testing.T, ch <-chan *message.Message, n int) []int {
	t.Helper()
	got := make([]int, 0, n)
	timeout := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Errorf("channel closed after %d of %d messages", len(got), n)
				return got
			}
			m.Ack()
			i, err := strconv.Atoi(string(m.Payload))
			require.NoError(t, err)
			got = append(got, i)
		case <-timeout:
			t.Errorf("got %d of %d messages", len(got), n)
			return got
		}
	}
	return got
}

func upTo(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// The probe that found the bug: one publisher goroutine publishes N
// messages back to back on one topic; every subscriber gets all of them,
// in that order (watermill's GoChannel delivered ~99% of them out of
// order).
func TestPublishKeepsOrder(t *testing.T) {
	const n = 2000
	for _, subs := range []int{1, 4} {
		t.Run(fmt.Sprintf("subscribers=%d", subs), func(t *testing.T) {
			b := newBus(t)
			chans := make([]<-chan *message.Message, subs)
			for i := range chans {
				var err error
				chans[i], err = b.Subscribe(t.Context(), "probe")
				require.NoError(t, err)
			}
			go func() {
				for i := range n {
					assert.NoError(t, b.Publish("probe", numbered(i)))
				}
			}()
			var wg sync.WaitGroup
			for _, ch := range chans {
				wg.Go(func() { assert.Equal(t, upTo(n), collect(t, ch, n)) })
			}
			wg.Wait()
			assert.Zero(t, b.Dropped())
		})
	}
}

// Publishes from different goroutines that happen one after the other
// (each hands the turn to the next) arrive in that order too, and so do
// the messages of one Publish call.
func TestPublishKeepsHappensBeforeOrder(t *testing.T) {
	const n, publishers = 1000, 4
	b := newBus(t)
	ch, err := b.Subscribe(t.Context(), "relay")
	require.NoError(t, err)
	turns := make([]chan int, publishers)
	for i := range turns {
		turns[i] = make(chan int, 1)
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range turns[p] {
				if i >= n {
					for _, c := range turns {
						close(c)
					}
					return
				}
				assert.NoError(t, b.Publish("relay", numbered(i), numbered(i+1)))
				turns[(p+1)%publishers] <- i + 2
			}
		})
	}
	turns[0] <- 0
	assert.Equal(t, upTo(n), collect(t, ch, n))
	wg.Wait()
}

// Link states published in a burst (a link flapping) reach a subscriber
// in the order they were reported: a feature never sees "disconnected"
// after the "connected" that followed it.
func TestLinkStatesKeepOrderInABurst(t *testing.T) {
	const n = 1000
	b := newBus(t)
	ch, err := b.Subscribe(t.Context(), TopicLinkState)
	require.NoError(t, err)
	go func() {
		for i := range n {
			s := linkstate.State{State: linkstate.Disconnected, Attempt: i}
			if i%2 == 1 {
				s.State = linkstate.Connected
			}
			b.PublishLinkState(s)
		}
	}()
	for i := range n {
		select {
		case m := <-ch:
			m.Ack()
			s, err := DecodeLinkState(m)
			require.NoError(t, err)
			require.Equal(t, i, s.Attempt, "state %d arrived as the %dth", s.Attempt, i)
			if i%2 == 1 {
				require.Equal(t, linkstate.Connected, s.State)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("got %d of %d states", i, n)
		}
	}
}

// A subscriber that, before acking a message, makes a request and waits
// for its reply does not deadlock the bus, nor does a server whose handler
// makes a request of its own before replying.
func TestRequestBeforeAckDoesNotDeadlock(t *testing.T) {
	b, err := New(Config{OutputBuffer: 4}, nil) // queues fill: requests wait for room
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stop, err := b.Serve(ctx, map[string]func(*message.Message){
		"inner": func(m *message.Message) { _ = b.Reply(m, message.NewMessage(watermill.NewUUID(), m.Payload)) },
		"outer": func(m *message.Message) {
			rep, err := b.Request(ctx, "inner", message.NewMessage(watermill.NewUUID(), m.Payload))
			if err != nil {
				_ = b.Reply(m, ErrorReply(err))
				return
			}
			_ = b.Reply(m, rep)
		},
	})
	require.NoError(t, err)
	defer stop()

	const n = 200
	work, err := b.Subscribe(ctx, "work")
	require.NoError(t, err)
	done := make(chan []int)
	go func() {
		var got []int
		for m := range work {
			rep, err := b.Request(ctx, "outer", message.NewMessage(watermill.NewUUID(), m.Payload))
			if !assert.NoError(t, err) {
				break
			}
			i, _ := strconv.Atoi(string(rep.Payload))
			got = append(got, i)
			m.Ack() // only now
			if len(got) == n {
				break
			}
		}
		done <- got
	}()
	for i := range n {
		// The subscriber is far behind: Publish would drop; a
		// producer that must not lose messages paces itself.
		for b.queued("work") >= 4 {
			time.Sleep(time.Millisecond)
		}
		require.NoError(t, b.Publish("work", numbered(i)))
	}
	select {
	case got := <-done:
		assert.Equal(t, upTo(n), got)
	case <-ctx.Done():
		t.Fatal("deadlock: requests made before acking never completed")
	}
}

// queued returns how many messages wait in the queues of topic's
// subscribers.
func (b *Bus) queued(topic string) int {
	n := 0
	for _, q := range b.backlog(topic) {
		n += q
	}
	return n
}

// backlog returns how many messages wait in the queue of each of topic's
// subscribers, in the order they subscribed.
func (b *Bus) backlog(topic string) []int {
	subs, _ := b.subscribers(topic)
	q := make([]int, len(subs))
	for i, s := range subs {
		s.mu.Lock()
		q[i] = len(s.queue) - s.head
		s.mu.Unlock()
	}
	return q
}

// Concurrent requests into a server slower than they come wait for room
// in its small queue instead of failing.
func TestRequestWaitsForRoom(t *testing.T) {
	b, err := New(Config{OutputBuffer: 2}, nil)
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stop, err := b.Serve(ctx, map[string]func(*message.Message){
		"svc": func(m *message.Message) {
			time.Sleep(100 * time.Microsecond)
			_ = b.Reply(m, nil)
		},
	})
	require.NoError(t, err)
	defer stop()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := b.Request(ctx, "svc", message.NewMessage(watermill.NewUUID(), nil))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Zero(t, b.Dropped())

	// A request that finds no room before its ctx ends fails as not
	// queued, at once when the deadline passes.
	_, err = b.Subscribe(ctx, "stuck")
	require.NoError(t, err)
	require.NoError(t, b.Publish("stuck", numbered(0)))
	waitFor(t, func() bool { return b.queued("stuck") == 0 }) // in delivery
	require.NoError(t, b.Publish("stuck", numbered(1), numbered(2)))
	require.Equal(t, 2, b.queued("stuck"))
	rctx, rcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer rcancel()
	_, err = b.Request(rctx, "stuck", numbered(3))
	require.ErrorIs(t, err, ErrQueueFull)
	assert.EqualValues(t, 1, b.Dropped())
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("condition not met within 10s\n%s", buf[:runtime.Stack(buf, true)])
		}
	}
}

// A subscriber that reads nothing holds up neither other topics nor the
// other subscribers of its own topic, and never blocks Publish: once its
// queue is full it loses messages, which are counted and reported.
func TestSlowSubscriberBlocksNobody(t *testing.T) {
	const limit, n = 16, 500
	b, err := New(Config{OutputBuffer: limit}, nil)
	require.NoError(t, err)
	defer b.Close()
	stuck, err := b.Subscribe(t.Context(), "t")
	require.NoError(t, err)
	same, err := b.Subscribe(t.Context(), "t")
	require.NoError(t, err)
	other, err := b.Subscribe(t.Context(), "other")
	require.NoError(t, err)

	var full int
	var wg sync.WaitGroup
	wg.Go(func() { assert.Equal(t, upTo(n), collect(t, same, n), "the other subscriber of the topic") })
	wg.Go(func() { assert.Equal(t, upTo(n), collect(t, other, n), "another topic") })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			err := b.Publish("t", numbered(i))
			if err != nil {
				assert.ErrorIs(t, err, ErrQueueFull)
				full++
			}
			assert.NoError(t, b.Publish("other", numbered(i)))
			// Keep the readers from falling a queue behind; the
			// stuck one is at its limit already.
			for b.backlog("t")[1] > limit/2 || b.backlog("other")[0] > limit/2 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Publish blocked on a stuck subscriber")
	}
	wg.Wait()
	assert.Equal(t, uint64(full), b.Dropped())
	assert.GreaterOrEqual(t, full, n-limit-1, "the stuck subscriber holds its queue and one message in delivery")

	// What it got is what fitted, in order.
	got := collect(t, stuck, n-full)
	assert.Equal(t, upTo(n-full), got)
}

// A Nack hands the same message again before the next one.
func TestNackRedeliversInOrder(t *testing.T) {
	const n = 100
	b := newBus(t)
	ch, err := b.Subscribe(t.Context(), "nack")
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, b.Publish("nack", numbered(i)))
	}
	var got []string
	nacked := false
	for len(got) < 2*n {
		m := <-ch
		got = append(got, string(m.Payload))
		if nacked = !nacked; nacked {
			m.Nack()
		} else {
			m.Ack()
		}
	}
	for i := range n {
		assert.Equal(t, []string{strconv.Itoa(i), strconv.Itoa(i)}, got[2*i:2*i+2])
	}
}

// The bus is still a watermill Publisher and Subscriber.
func TestWatermillInterfaces(t *testing.T) {
	b := newBus(t)
	ch, err := b.Subscriber().Subscribe(t.Context(), "wm")
	require.NoError(t, err)
	go func() {
		for i := range 100 {
			assert.NoError(t, b.Publisher().Publish("wm", numbered(i)))
		}
	}()
	assert.Equal(t, upTo(100), collect(t, ch, 100))
}

// A subscriber whose ctx ends loses its queue and its channel closes;
// publishing goes on for the others.
func TestSubscriptionEnds(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithCancel(t.Context())
	gone, err := b.Subscribe(ctx, "t")
	require.NoError(t, err)
	stays, err := b.Subscribe(t.Context(), "t")
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, b.Publish("t", numbered(i)))
	}
	cancel()
	for range gone { // closes, whatever was in delivery at the time
	}
	require.NoError(t, b.Publish("t", numbered(10)))
	assert.Equal(t, upTo(11), collect(t, stays, 11))
	assert.False(t, b.served("nobody"))
	assert.True(t, b.served("t"))
}

// Close with messages queued for subscribers that do not read, and a
// request waiting for room, ends every goroutine the bus started: nothing
// leaks. Afterwards publishing and subscribing fail, and channels are
// closed.
func TestCloseWithQueuedMessagesLeaksNoGoroutine(t *testing.T) {
	snap := leakcheck.Take()
	b, err := New(Config{OutputBuffer: 8}, nil)
	require.NoError(t, err)
	var chans []<-chan *message.Message
	for i := range 20 {
		ch, err := b.Subscribe(context.Background(), "t"+strconv.Itoa(i%5))
		require.NoError(t, err)
		chans = append(chans, ch)
	}
	for i := range 5 {
		require.NoError(t, b.Publish("t"+strconv.Itoa(i), numbered(i)))
	}
	waitFor(t, func() bool { // each subscriber's delivery holds a message
		for i := range 5 {
			if b.queued("t"+strconv.Itoa(i)) > 0 {
				return false
			}
		}
		return true
	})
	for i := range 50 { // each queue full (8 of 10 fit)
		_ = b.Publish("t"+strconv.Itoa(i%5), numbered(i))
	}
	require.Equal(t, []int{8, 8, 8, 8}, b.backlog("t0"))
	requested := make(chan error)
	go func() {
		_, err := b.Request(context.Background(), "t0", numbered(-1))
		requested <- err
	}()
	waitFor(t, func() bool {
		subs, _ := b.subscribers("t0")
		subs[0].mu.Lock()
		defer subs[0].mu.Unlock()
		return subs[0].space != nil // the request waits for room
	})

	require.NoError(t, b.Close())
	require.Error(t, <-requested)
	for _, ch := range chans {
		for range ch { // drained and closed: a message in delivery at Close may come
		}
	}
	assert.ErrorContains(t, b.Publish("t0", numbered(0)), "closed")
	_, err = b.Subscribe(t.Context(), "t0")
	assert.Error(t, err)
	_, err = b.Request(t.Context(), "t0", numbered(0))
	assert.Error(t, err)
	require.NoError(t, b.Close(), "a second Close")

	snap.Check(t, 5*time.Second, nil)
}

// Publishing on a topic nobody subscribes to drops the message silently.
func TestPublishWithoutSubscribers(t *testing.T) {
	b := newBus(t)
	require.NoError(t, b.Publish("nobody", numbered(0)))
	assert.Zero(t, b.Dropped())
}
