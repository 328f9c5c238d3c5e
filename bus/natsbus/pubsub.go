package natsbus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iotd/iotd/bus/natsconf"
)

// Headers of the wire format (see the package documentation).
const (
	// UUIDHeader carries the message's UUID (watermill-nats's name, so
	// that its consumers read ours).
	UUIDHeader = "_watermill_message_uuid"
	// EncodedHeader lists, comma-separated, the metadata keys whose
	// values are base64 (values a header cannot carry as they are).
	EncodedHeader = "Iotd-Base64"
)

// inactiveThreshold is how long the server keeps a subscription's consumer
// once nobody pulls from it (its process died without deleting it).
const inactiveThreshold = 10 * time.Minute

// pullBatch is how many messages a subscription has in flight from the
// server at most: delivered to this process, not yet acked.
const pullBatch = 64

// pullExpiry and pullHeartbeat shape a subscription's pull requests: the
// server answers a pending one with a heartbeat every pullHeartbeat, so
// that a consumer lost with its server is noticed after two missed ones.
const (
	pullExpiry    = 10 * time.Second
	pullHeartbeat = 2 * time.Second
)

// createTimeout bounds the creation of a subscription's consumer (at least;
// publish_timeout when longer). It is a round trip through the stream's
// leader like a publish, but a burst of subscriptions at start queues them
// on a busy server: 5 s failed subscriptions of watermill's concurrent
// subscribe test on a loaded 2-core machine.
const createTimeout = 30 * time.Second

// deleteTimeout bounds the deletion of a subscription's consumer when it
// ends.
const deleteTimeout = 2 * time.Second

var errClosed = errors.New("natsbus: closed")

// PubSub is a watermill Publisher and Subscriber over one NATS connection
// and one JetStream stream. Create it with [Open]; it is safe for
// concurrent use.
type PubSub struct {
	cfg natsconf.Config
	log *slog.Logger
	nc  *nats.Conn
	js  jetstream.JetStream

	deliverAll bool

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	subs    sync.WaitGroup
}

var (
	_ message.Publisher  = (*PubSub)(nil)
	_ message.Subscriber = (*PubSub)(nil)
)

// Option changes a PubSub's behaviour from the bus's.
type Option func(*PubSub)

// DeliverAll makes each subscription start at the oldest message the
// stream holds for its topic instead of the next one published:
// watermill's "persistent" Pub/Sub (as its universal tests expect, with
// Retention limits). The bus does not use it.
func DeliverAll() Option { return func(p *PubSub) { p.deliverAll = true } }

// Open connects to NATS as cfg says and makes sure the stream exists. log
// may be nil.
func Open(ctx context.Context, cfg natsconf.Config, log *slog.Logger, opts ...Option) (*PubSub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	copts, err := connectOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.URL, copts...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	p := &PubSub{cfg: cfg, log: log, nc: nc, js: js, closing: make(chan struct{})}
	for _, o := range opts {
		o(p)
	}
	if err := p.ensureStream(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return p, nil
}

func connectOptions(cfg natsconf.Config, log *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("iotd"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("bus: NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("bus: NATS reconnected", "server", c.ConnectedUrlRedacted()) }),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.CAFile != "" || cfg.CertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("bus.ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("bus.ca_file %s: no certificate", cfg.CAFile)
			}
		}
		if cfg.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("bus.cert_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

// StreamConfig is the stream [Open] creates when it is missing.
func StreamConfig(cfg natsconf.Config) jetstream.StreamConfig {
	cfg = cfg.WithDefaults()
	sc := jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "iotd bus",
		Subjects:    []string{cfg.SubjectPrefix + ".>"},
		Retention:   jetstream.InterestPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    cfg.MaxBytes,
		Replicas:    cfg.Replicas,
	}
	if cfg.Retention == "limits" {
		sc.Retention = jetstream.LimitsPolicy
	}
	if cfg.Storage == "memory" {
		sc.Storage = jetstream.MemoryStorage
	}
	return sc
}

func (p *PubSub) ensureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.PublishTimeout)
	defer cancel()
	want := StreamConfig(p.cfg)
	st, err := p.js.Stream(ctx, p.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = p.js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = p.js.Stream(ctx, p.cfg.Stream) // another process created it meanwhile
		}
	}
	if err == nil && st != nil && !covers(st.CachedInfo().Config.Subjects, p.cfg.SubjectPrefix) {
		// A stream shared with buses under other prefixes (devices
		// sharing a server) gets this one's subjects too.
		sc := st.CachedInfo().Config
		sc.Subjects = append(sc.Subjects, want.Subjects...)
		_, err = p.js.UpdateStream(ctx, sc)
	}
	if err != nil {
		return fmt.Errorf("natsbus: stream %s: %w", p.cfg.Stream, err)
	}
	return nil
}

// covers reports whether one of a stream's subjects holds every subject
// under prefix.
func covers(subjects []string, prefix string) bool {
	for _, s := range subjects {
		if s == ">" {
			return true
		}
		if w, ok := strings.CutSuffix(s, ">"); ok && strings.HasPrefix(prefix+".", w) && !strings.Contains(w, "*") {
			return true
		}
	}
	return false
}

// Subject returns the subject of a bus topic (see [Subject]).
func (p *PubSub) Subject(topic string) string { return Subject(p.cfg.SubjectPrefix, topic) }

// Conn returns the NATS connection.
func (p *PubSub) Conn() *nats.Conn { return p.nc }

// Publish publishes msgs on topic, one after the other, each once the
// stream acknowledged the one before: then it is stored (on a quorum of
// the stream's replicas) and will be delivered to every subscription that
// existed when it was published.
func (p *PubSub) Publish(topic string, msgs ...*message.Message) error {
	if p.isClosed() {
		return errClosed
	}
	subject := p.Subject(topic)
	for _, m := range msgs {
		nm, err := marshal(subject, m)
		if err != nil {
			return fmt.Errorf("natsbus: publish on %s: %w", topic, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.PublishTimeout)
		_, err = p.js.PublishMsg(ctx, nm)
		cancel()
		if err != nil {
			return fmt.Errorf("natsbus: publish on %s: %w", topic, err)
		}
	}
	return nil
}

// marshal makes the NATS message of m: its payload as the data, its
// UUID and metadata as headers.
func marshal(subject string, m *message.Message) (*nats.Msg, error) {
	nm := nats.NewMsg(subject)
	nm.Data = m.Payload
	nm.Header.Set(UUIDHeader, m.UUID)
	var encoded []string
	for k, v := range m.Metadata {
		if !validKey(k) || k == UUIDHeader || k == EncodedHeader {
			return nil, fmt.Errorf("metadata key %q cannot be a NATS header", k)
		}
		if needsEncoding(v) {
			v = base64.StdEncoding.EncodeToString([]byte(v))
			encoded = append(encoded, k)
		}
		nm.Header.Set(k, v)
	}
	if len(encoded) > 0 {
		nm.Header.Set(EncodedHeader, strings.Join(encoded, ","))
	}
	return nm, nil
}

// validKey reports whether k can be a header name: printable ASCII
// without ':' or spaces, and not a name NATS reserves.
func validKey(k string) bool {
	if k == "" || strings.HasPrefix(strings.ToLower(k), "nats-") {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f || c == ':' || c == ',' {
			return false
		}
	}
	return true
}

// needsEncoding reports whether a header cannot carry v as it is: control
// characters, or spaces at either end (a header's value is trimmed).
func needsEncoding(v string) bool {
	if v != strings.TrimSpace(v) {
		return true
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' || c == 0x7f {
			return true
		}
	}
	return false
}

// unmarshal reverses marshal. A message from another NATS client may lack
// the UUID: it gets a new one. Headers NATS reserves are left out.
func unmarshal(jm jetstream.Msg) (*message.Message, error) {
	h := jm.Headers()
	id := h.Get(UUIDHeader)
	if id == "" {
		id = watermill.NewUUID()
	}
	m := message.NewMessage(id, jm.Data())
	for k, vs := range h {
		if k == UUIDHeader || k == EncodedHeader || len(vs) == 0 || strings.HasPrefix(strings.ToLower(k), "nats-") {
			continue
		}
		m.Metadata.Set(k, vs[0])
	}
	if enc := h.Get(EncodedHeader); enc != "" {
		for k := range strings.SplitSeq(enc, ",") {
			v, err := base64.StdEncoding.DecodeString(m.Metadata.Get(k))
			if err != nil {
				return nil, fmt.Errorf("metadata %q: %w", k, err)
			}
			m.Metadata.Set(k, string(v))
		}
	}
	return m, nil
}

func (p *PubSub) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Subscribe returns a channel of the messages published on topic from
// now on, closed when ctx ends or p closes. Each message must be Acked or
// Nacked: the next one comes after that; a Nack hands the same message
// again, at once.
func (p *PubSub) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errClosed
	}
	p.subs.Add(1)
	p.mu.Unlock()
	s := &subscription{p: p, ctx: ctx, topic: topic, subject: p.Subject(topic), out: make(chan *message.Message)}
	if err := s.open(ctx, 0); err != nil {
		p.subs.Done()
		return nil, fmt.Errorf("natsbus: subscribe %s: %w", topic, err)
	}
	go s.run()
	return s.out, nil
}

// subscription is one Subscribe: an ephemeral pull consumer of the stream
// filtered on the topic's subject, and the goroutine that hands its
// messages to out one at a time.
type subscription struct {
	p       *PubSub
	ctx     context.Context
	topic   string
	subject string
	out     chan *message.Message

	cons    jetstream.Consumer
	it      jetstream.MessagesContext
	lastSeq uint64 // stream sequence of the last message acked
}

// open creates the consumer: delivering the messages published from now
// on, or from stream sequence start on when it is not 0 (a consumer that
// was lost is created again where the last one stopped).
func (s *subscription) open(ctx context.Context, start uint64) error {
	cfg := s.p.cfg
	cc := jetstream.ConsumerConfig{
		Description:       "iotd bus: " + s.topic,
		FilterSubject:     s.subject,
		DeliverPolicy:     jetstream.DeliverNewPolicy,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           cfg.AckWait,
		MaxAckPending:     pullBatch,
		MaxDeliver:        -1,
		InactiveThreshold: inactiveThreshold,
		MemoryStorage:     true,
	}
	if s.p.deliverAll {
		cc.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	if start > 0 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	ctx, cancel := context.WithTimeout(ctx, max(cfg.PublishTimeout, createTimeout))
	defer cancel()
	cons, err := s.p.js.CreateConsumer(ctx, cfg.Stream, cc)
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(pullBatch), jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(pullHeartbeat))
	if err != nil {
		s.deleteConsumer(cons)
		return err
	}
	s.cons, s.it = cons, it
	return nil
}

func (s *subscription) deleteConsumer(cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	_ = s.p.js.DeleteConsumer(ctx, s.p.cfg.Stream, cons.CachedInfo().Name)
}

// ended reports whether the subscription is over.
func (s *subscription) ended() bool {
	select {
	case <-s.ctx.Done():
		return true
	case <-s.p.closing:
		return true
	default:
		return false
	}
}

func (s *subscription) run() {
	defer s.p.subs.Done()
	defer close(s.out)
	// Next waits on this ctx: it ends with the subscriber's or at Close.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go func() {
		select {
		case <-s.p.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		s.it.Stop()
		s.deleteConsumer(s.cons)
	}()
	failures := 0
	for {
		jm, err := s.it.Next(jetstream.NextContext(ctx))
		if s.ended() {
			return
		}
		if err != nil {
			failures++
			if !s.recover(ctx, err, failures) {
				return
			}
			continue
		}
		failures = 0
		m, err := unmarshal(jm)
		if err != nil {
			s.p.log.Warn("bus: malformed NATS message dropped", "subject", jm.Subject(), "err", err)
			_ = jm.Term()
			continue
		}
		if !s.deliver(ctx, jm, m) {
			return
		}
	}
}

// recover handles an error of the consumer's iterator (a missed
// heartbeat: its server went away, or it was deleted). When the server
// no longer knows the consumer, it creates a new one that starts after
// the last message acked (what was delivered but not acked comes again).
// It returns false when the subscription ended meanwhile.
func (s *subscription) recover(ctx context.Context, err error, failures int) bool {
	s.p.log.Warn("bus: NATS subscription interrupted", "topic", s.topic, "err", err)
	wait := min(time.Duration(failures)*100*time.Millisecond, 2*time.Second)
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return false
	}
	ictx, cancel := context.WithTimeout(ctx, s.p.cfg.PublishTimeout)
	_, ierr := s.cons.Info(ictx)
	cancel()
	if ierr == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
		return true // the consumer is there: the iterator goes on
	}
	old := s.cons
	s.it.Stop()
	if err := s.open(ctx, s.lastSeq+1); err != nil {
		s.p.log.Warn("bus: NATS subscription not restored yet", "topic", s.topic, "err", err)
		return !s.ended()
	}
	s.deleteConsumer(old)
	return true
}

// deliver hands copies of m to the subscriber until one is acked, then
// acks jm. It returns false when the subscription ends first.
func (s *subscription) deliver(ctx context.Context, jm jetstream.Msg, m *message.Message) bool {
	progress := time.NewTicker(max(s.p.cfg.AckWait/2, time.Second))
	defer progress.Stop()
	for {
		// Each copy's context ends once it is acked or nacked, or the
		// subscription ends: watermill's convention.
		c := m.Copy()
		mctx, cancel := context.WithCancel(ctx)
		c.SetContext(mctx)
		if !s.handOver(ctx, jm, c, progress) {
			cancel()
			return false
		}
		acked, ok := s.await(ctx, jm, c, progress)
		cancel()
		if !ok {
			return false
		}
		if acked {
			if md, err := jm.Metadata(); err == nil {
				s.lastSeq = md.Sequence.Stream
			}
			_ = jm.Ack()
			return true
		}
	}
}

// handOver sends c to the subscriber, telling the server the message is
// in progress meanwhile. It returns false when the subscription ends
// first.
func (s *subscription) handOver(ctx context.Context, jm jetstream.Msg, c *message.Message, progress *time.Ticker) bool {
	for {
		select {
		case s.out <- c:
			return true
		case <-ctx.Done():
			return false
		case <-progress.C:
			_ = jm.InProgress()
		}
	}
}

// await waits for the subscriber's Ack (true) or Nack (false); ok is
// false when the subscription ends first.
func (s *subscription) await(ctx context.Context, jm jetstream.Msg, c *message.Message, progress *time.Ticker) (acked, ok bool) {
	for {
		select {
		case <-c.Acked():
			return true, true
		case <-c.Nacked():
			return false, true
		case <-progress.C:
			_ = jm.InProgress()
		case <-ctx.Done():
			return false, false
		}
	}
}

// Close ends every subscription (their channels close) and the
// connection. It returns once the subscriptions' goroutines ended.
func (p *PubSub) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.closing)
	p.mu.Unlock()
	p.subs.Wait()
	p.nc.Close()
	return nil
}
