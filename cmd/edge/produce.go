package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/bus/natsbus"
	"github.com/iotd/iotd/bus/natsconf"
)

// produceConfig is what `edge produce` does.
type produceConfig struct {
	URL, Stream, Prefix, Topic string
	N, Window                  int
	QoS                        int
	Timeout                    time.Duration
}

func runProduce(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c produceConfig
	fs := flag.NewFlagSet("edge produce", flag.ContinueOnError)
	fs.StringVar(&c.URL, "url", "nats://127.0.0.1:4222", "NATS server(s), comma-separated")
	fs.StringVar(&c.Stream, "stream", natsconf.DefaultStream, "iotd's stream (bus.stream)")
	fs.StringVar(&c.Prefix, "prefix", natsconf.DefaultSubjectPrefix, "iotd's subject prefix (bus.subject_prefix)")
	fs.StringVar(&c.Topic, "topic", "", "cloud topic, e.g. PRODUCT/DEVICE/event (required)")
	fs.IntVar(&c.N, "n", 1000, "messages to publish")
	fs.IntVar(&c.Window, "window", 64, "requests in flight at most (published, not yet answered)")
	fs.IntVar(&c.QoS, "qos", 1, "MQTT QoS, 0 or 1")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "give up when no reply came for this long")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if c.Topic == "" || c.N < 1 || c.Window < 1 || c.QoS < 0 || c.QoS > 1 || c.Timeout <= 0 {
		fmt.Fprintln(stderr, "edge produce: -topic is required; -n and -window are at least 1, -qos 0 or 1, -timeout positive")
		return errUsage
	}
	return produce(ctx, c, stdout)
}

// tally is what became of the requests: counts by result, the failures'
// reasons (the first few), and each answered request's round trip.
type tally struct {
	mu       sync.Mutex
	results  map[string]int
	reasons  []string
	rtts     []time.Duration
	answered int
}

func (t *tally) add(result, reason string, rtt time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.results[result]++
	t.answered++
	t.rtts = append(t.rtts, rtt)
	if result != string(bus.Acknowledged) && len(t.reasons) < 5 {
		t.reasons = append(t.reasons, result+": "+reason)
	}
}

// produce publishes c.N requests on the uplink's subject, up to c.Window
// unanswered at once, one after the other from one goroutine so that the
// uplink (which serves requests in order) sends them to the hub in order,
// and reads the replies on a reply subject of its own.
func produce(ctx context.Context, c produceConfig, stdout io.Writer) error {
	nc, err := nats.Connect(c.URL, nats.Name("edge produce"))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", c.URL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	replyTopic := bus.TopicReply + ".edge-" + watermill.NewShortUUID()
	// Created before the first request: with interest retention a reply
	// published while no consumer wants it would be dropped at once.
	cons, err := js.CreateConsumer(ctx, c.Stream, jetstream.ConsumerConfig{
		FilterSubject:     natsbus.Subject(c.Prefix, replyTopic),
		AckPolicy:         jetstream.AckExplicitPolicy,
		InactiveThreshold: time.Minute,
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("no stream %s on %s: start iotd with bus: {backend: nats, url: %s} first (it creates the stream)", c.Stream, c.URL, c.URL)
	}
	if err != nil {
		return fmt.Errorf("reply consumer: %w", err)
	}
	defer func() { _ = js.DeleteConsumer(context.Background(), c.Stream, cons.CachedInfo().Name) }()
	it, err := cons.Messages()
	if err != nil {
		return err
	}

	subject := natsbus.Subject(c.Prefix, bus.TopicUplinkPublish)
	fmt.Fprintf(stdout, "produce: %d messages QoS %d on %s through %s (subject %s, replies on %s), up to %d in flight\n",
		c.N, c.QoS, c.Topic, c.URL, subject, natsbus.Subject(c.Prefix, replyTopic), c.Window)

	var (
		mu      sync.Mutex
		pending = map[string]time.Time{} // correlation id: when sent
		t       = &tally{results: map[string]int{}}
		slots   = make(chan struct{}, c.Window)
		done    = make(chan error, 1)
	)
	finished := make(chan struct{})
	defer func() { it.Stop(); <-finished }()
	go func() { // the replies
		defer close(finished)
		for t.answeredCount() < c.N {
			m, err := it.Next(jetstream.NextMaxWait(c.Timeout))
			if err != nil {
				if errors.Is(err, nats.ErrTimeout) {
					err = fmt.Errorf("no reply for %v (is iotd running with bus.backend nats on this server?)", c.Timeout)
				}
				done <- err
				return
			}
			_ = m.Ack()
			h := m.Headers()
			mu.Lock()
			sent, ok := pending[h.Get(bus.MetaCorrelationID)]
			delete(pending, h.Get(bus.MetaCorrelationID))
			mu.Unlock()
			if !ok {
				continue // not one of ours
			}
			t.add(h.Get(bus.MetaResult), h.Get(bus.MetaError), time.Since(sent))
			<-slots
		}
		done <- nil
	}()

	start := time.Now()
	var sendErr error
	published := 0
publish:
	for i := range c.N {
		select {
		case slots <- struct{}{}:
		case err := <-done:
			done <- err
			break publish
		case <-ctx.Done():
			sendErr = ctx.Err()
			break publish
		}
		m := nats.NewMsg(subject)
		m.Data = fmt.Appendf(nil, `{"seq":%d,"temperature":%.1f}`, i, 20+float64(i%50)/10)
		id := watermill.NewShortUUID()
		m.Header.Set(bus.MetaTopic, c.Topic)
		m.Header.Set(bus.MetaQoS, strconv.Itoa(c.QoS))
		m.Header.Set(bus.MetaReplyTo, replyTopic)
		m.Header.Set(bus.MetaCorrelationID, id)
		mu.Lock()
		pending[id] = time.Now()
		mu.Unlock()
		if _, err := js.PublishMsg(ctx, m); err != nil {
			sendErr = fmt.Errorf("publish %d: %w", i, err)
			break
		}
		published++
	}
	var replyErr error
	if sendErr == nil {
		select {
		case replyErr = <-done:
		case <-ctx.Done():
			replyErr = ctx.Err()
		}
	}
	elapsed := time.Since(start)

	t.mu.Lock()
	defer t.mu.Unlock()
	acked := t.results[string(bus.Acknowledged)]
	failed := c.N - acked
	fmt.Fprintf(stdout, "produce: %d published, %d acknowledged, %d failed in %.2f s: %.0f msg/s acknowledged",
		published, acked, failed, elapsed.Seconds(), float64(acked)/elapsed.Seconds())
	if len(t.rtts) > 0 {
		slices.Sort(t.rtts)
		fmt.Fprintf(stdout, "; reply after p50 %v, p99 %v", pct(t.rtts, 0.50), pct(t.rtts, 0.99))
	}
	fmt.Fprintln(stdout)
	for r, n := range t.results {
		if r != string(bus.Acknowledged) {
			fmt.Fprintf(stdout, "produce: %d %s\n", n, r)
		}
	}
	for _, r := range t.reasons {
		fmt.Fprintf(stdout, "produce: e.g. %s\n", r)
	}
	switch {
	case sendErr != nil:
		return sendErr
	case replyErr != nil:
		return replyErr
	case failed > 0:
		return fmt.Errorf("%d of %d messages not acknowledged", failed, c.N)
	}
	return nil
}

func (t *tally) answeredCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.answered
}

// pct is the p-th quantile of sorted d, rounded for printing.
func pct(d []time.Duration, p float64) time.Duration {
	v := d[min(len(d)-1, int(p*float64(len(d))))]
	return v.Round(10 * time.Microsecond)
}
