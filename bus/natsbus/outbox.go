package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iotd/iotd/bus/outbox"
)

// OutboxConfig says where an [Outbox] keeps its messages.
type OutboxConfig struct {
	// Stream is the stream's name (created when missing). Its subjects
	// are "_iotd_outbox.<Stream>.msg", ".dead" and ".att".
	Stream string
	// Replicas is the stream's replication factor when it is created
	// (default 1; 3 survives the loss of one server of a cluster).
	Replicas int
	// Timeout bounds each request to the server: a publish's
	// acknowledgement, a read, a deletion (default 5s).
	Timeout time.Duration
	// Options are the outbox's bounds (MaxMessages, MaxBytes,
	// MaxDeadLetters) and its log; Sync and SyncInterval are the file's
	// and not used.
	Options outbox.Options
}

// OutboxStream is the default outbox stream of a bus whose subjects start
// with prefix: "OUTBOX_" and the prefix with '.' as '_' (iotd.dev1:
// OUTBOX_iotd_dev1).
func OutboxStream(prefix string) string {
	return "OUTBOX_" + strings.ReplaceAll(prefix, ".", "_")
}

// outboxSubject is the first tokens of an outbox stream's subjects. It
// lies outside every bus prefix but "_iotd_outbox", so that the bus's
// stream ("<prefix>.>") never overlaps an outbox's.
func outboxSubject(stream string) string { return "_iotd_outbox." + stream }

// Outbox is an [outbox.Store] in a JetStream stream: the uplink's durable
// outbox for an iotd on NATS, which survives the loss of the machine that
// runs iotd as long as the stream does.
//
// # Layout
//
// One stream per device outbox, limits retention, file storage, discard
// new. A pending message is a message on "<subject>.msg": payload as data,
// topic, QoS and acceptance time as headers; its Seq is its stream
// sequence. A dead letter is a copy on "<subject>.dead" with the pending
// message's Seq, attempts, reason and parking time added; Park publishes
// the copy and then deletes the pending message. A message's attempts are
// a marker on "<subject>.att" (headers Seq and attempts, no data), the
// newest one for a Seq counting; the older one is deleted. Retry publishes
// a new pending message naming the dead letter (Iotd-Retried) and then
// deletes the dead letter. Open reads the headers of every message (not
// the payloads) and finishes what a crash interrupted: a pending message
// with a dead letter of its Seq was parked, a dead letter named by a
// pending message was retried, a marker of a Seq no longer pending is
// dropped.
//
// # Guarantees and costs
//
// A write returns once the stream acknowledged it (stored on a quorum of
// its replicas). AppendBatch publishes the batch asynchronously and waits
// for every acknowledgement; if one fails it deletes those that were stored
// and fails with ErrDisk. A publish whose acknowledgement timed out may
// still have been stored: it then comes back after a restart and is sent
// (at least once). Remove only changes memory; a goroutine deletes the
// messages (a purge of the subject below the oldest pending Seq, one
// request for a run of PUBACKs, else a deletion each). The bounds are the
// outbox's, checked in memory (ErrFull); the stream's own limits are a
// backstop sized above them, with discard new so that the server never
// drops a stored message. Payload is a round trip to the stream's leader.
type Outbox struct {
	js     jetstream.JetStream
	st     jetstream.Stream
	cfg    OutboxConfig
	opts   outbox.Options
	log    *slog.Logger
	msgSub string // subjects of pending messages, dead letters, markers
	deadSb string
	attSub string

	closeMu sync.RWMutex // held shared by calls, exclusively by Close
	closed  bool

	// appendMu orders the writes that add pending messages (AppendBatch,
	// Retry): a batch's stream sequences are all above the previous
	// batch's, so that pending stays sorted and a purge below the oldest
	// pending Seq never reaches a message still being stored.
	appendMu sync.Mutex

	mu        sync.Mutex
	pending   outbox.PendingQueue
	marks     map[uint64]uint64 // pending Seq -> its attempts marker's stream sequence
	dead      []deadLetter      // ascending Seq
	deadBytes int64
	deletes   []uint64 // removed pending Seqs, not yet deleted from the stream
	drops     []uint64 // other stream sequences to delete (markers)

	closing     chan struct{} // closed when Close begins
	closingOnce sync.Once
	kick        chan struct{}
	quit        chan struct{} // closed by Close once calls are done: the deleter flushes and stops
	stopped     chan struct{}
}

// deadLetter is a dead letter in memory: its record without the payload,
// where it is in the stream, and, for a pending message whose headers
// failed their checks, why (it is shown as a dead letter that can only be
// dropped).
type deadLetter struct {
	rec     outbox.Record
	at      uint64 // stream sequence
	corrupt error
}

var _ outbox.Store = (*Outbox)(nil)

// OpenOutbox opens the outbox in the stream cfg names over nc, creating the
// stream when it is missing, and reads what it holds.
func OpenOutbox(ctx context.Context, nc *nats.Conn, cfg OutboxConfig) (*Outbox, error) {
	opts, err := cfg.Options.WithDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.Stream == "" || strings.ContainsAny(cfg.Stream, ". \t\r\n*>/\\") {
		return nil, fmt.Errorf("natsbus: outbox stream %q: a stream name, with no '.', '*', '>', '/', '\\' or whitespace", cfg.Stream)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultOutboxTimeout
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("natsbus: outbox: %w", err)
	}
	base := outboxSubject(cfg.Stream)
	o := &Outbox{
		js: js, cfg: cfg, opts: opts, log: log,
		msgSub: base + ".msg", deadSb: base + ".dead", attSub: base + ".att",
		marks:   map[uint64]uint64{},
		closing: make(chan struct{}), kick: make(chan struct{}, 1), quit: make(chan struct{}), stopped: make(chan struct{}),
	}
	if err := o.ensureStream(ctx); err != nil {
		return nil, err
	}
	if err := o.load(ctx); err != nil {
		return nil, err
	}
	go o.deleter()
	return o, nil
}

// OpenOutbox opens the uplink's outbox in a stream on p's server: stream,
// or [OutboxStream] of p's subject prefix when empty, with p's replicas and
// publish timeout. The outbox uses p's connection and must be closed
// before p.
func (p *PubSub) OpenOutbox(ctx context.Context, stream string, opts outbox.Options) (outbox.Store, error) {
	if stream == "" {
		stream = OutboxStream(p.cfg.SubjectPrefix)
	}
	o, err := OpenOutbox(ctx, p.nc, OutboxConfig{Stream: stream, Replicas: p.cfg.Replicas, Timeout: p.cfg.PublishTimeout, Options: opts})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// DefaultOutboxTimeout is OutboxConfig.Timeout's default.
const DefaultOutboxTimeout = 5 * time.Second

// OutboxStreamConfig is the stream OpenOutbox creates when it is missing.
func OutboxStreamConfig(cfg OutboxConfig, opts outbox.Options) jetstream.StreamConfig {
	// Room for every pending message, its attempts marker, the dead
	// letters, and messages whose deletion has not reached the stream.
	msgs := 3*int64(opts.MaxMessages) + 2*int64(opts.MaxDeadLetters) + 1000
	return jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "iotd uplink outbox",
		Subjects:    []string{outboxSubject(cfg.Stream) + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     msgs,
		MaxBytes:    3*opts.MaxBytes + msgs*512, // headers, dead letters
		Replicas:    max(cfg.Replicas, 1),
	}
}

func (o *Outbox) ensureStream(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	st, err := o.js.Stream(ctx, o.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st, err = o.js.CreateStream(ctx, OutboxStreamConfig(o.cfg, o.opts))
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			st, err = o.js.Stream(ctx, o.cfg.Stream)
		}
	}
	if err != nil {
		return fmt.Errorf("natsbus: outbox stream %s: %w", o.cfg.Stream, err)
	}
	if !slices.Contains(st.CachedInfo().Config.Subjects, outboxSubject(o.cfg.Stream)+".>") {
		return fmt.Errorf("natsbus: outbox stream %s exists with subjects %v, not %s.>: give the outbox a stream of its own (outbox.stream)",
			o.cfg.Stream, st.CachedInfo().Config.Subjects, outboxSubject(o.cfg.Stream))
	}
	o.st = st
	// Bounds raised since the stream was created raise its backstop too,
	// so that it never refuses what the outbox's bounds let in.
	have, want := st.CachedInfo().Config, OutboxStreamConfig(o.cfg, o.opts)
	if have.MaxMsgs >= 0 && have.MaxMsgs < want.MaxMsgs || have.MaxBytes >= 0 && have.MaxBytes < want.MaxBytes {
		have.MaxMsgs, have.MaxBytes = max(have.MaxMsgs, want.MaxMsgs), max(have.MaxBytes, want.MaxBytes)
		if _, err := o.js.UpdateStream(ctx, have); err != nil {
			o.log.Warn("outbox: the stream's limits not raised to the outbox's bounds; a publish past them is refused as full", "stream", o.cfg.Stream, "err", err)
		}
	}
	return nil
}

func (o *Outbox) enter() error {
	o.closeMu.RLock()
	if o.closed {
		o.closeMu.RUnlock()
		return outbox.ErrClosed
	}
	return nil
}

func (o *Outbox) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), o.cfg.Timeout)
}

// diskError wraps a failed request to the stream: ErrDisk, unless the
// stream refused it for its limits (the backstop): ErrFull.
func diskError(err error) error {
	var api *jetstream.APIError
	if errors.As(err, &api) && (strings.Contains(api.Description, "maximum messages") || strings.Contains(api.Description, "maximum bytes")) {
		return fmt.Errorf("%w: the stream refused it: %w", outbox.ErrFull, err)
	}
	return fmt.Errorf("%w: %w", outbox.ErrDisk, err)
}

// AppendBatch stores msgs at the tail, in order: one asynchronous publish
// each, then a wait for every acknowledgement. All or nothing: when one
// fails, those stored are deleted and none of msgs is pending.
func (o *Outbox) AppendBatch(ctx context.Context, msgs []outbox.Message) ([]outbox.Meta, error) {
	if err := o.enter(); err != nil {
		return nil, err
	}
	defer o.closeMu.RUnlock()
	if len(msgs) == 0 {
		return nil, nil
	}
	total, err := outbox.CheckBatch(msgs)
	if err != nil {
		return nil, err
	}
	o.appendMu.Lock()
	defer o.appendMu.Unlock()
	if err := o.precheck(len(msgs), total); err != nil {
		return nil, fmt.Errorf("outbox: append %d messages: %w", len(msgs), err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	metas := make([]outbox.Meta, len(msgs))
	recs := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		metas[i] = outbox.Meta{Topic: m.Topic, QoS: m.QoS, Size: len(m.Payload), Accepted: now}
		recs[i] = &nats.Msg{Subject: o.msgSub, Header: recordHeaders(outbox.Record{Meta: metas[i]}, false), Data: m.Payload}
	}
	seqs, err := o.publish(recs)
	if err != nil {
		return nil, fmt.Errorf("outbox: append %d messages: %w", len(msgs), err)
	}
	o.mu.Lock()
	for i := range metas {
		metas[i].Seq = seqs[i]
		o.pending.Push(metas[i])
	}
	o.mu.Unlock()
	return metas, nil
}

// publish stores msgs, in order, and returns their stream sequences; when
// one fails it deletes those stored and fails. o.appendMu must be held.
func (o *Outbox) publish(msgs []*nats.Msg) ([]uint64, error) {
	futs := make([]jetstream.PubAckFuture, 0, len(msgs))
	var first error
	for _, m := range msgs {
		f, err := o.js.PublishMsgAsync(m, jetstream.WithExpectStream(o.cfg.Stream))
		if err != nil {
			first = err
			break
		}
		futs = append(futs, f)
	}
	seqs := make([]uint64, 0, len(futs))
	var stored []uint64
	timeout := time.NewTimer(o.cfg.Timeout + time.Second) // the futures time out first
	defer timeout.Stop()
	for _, f := range futs {
		select {
		case ack := <-f.Ok():
			seqs = append(seqs, ack.Sequence)
			stored = append(stored, ack.Sequence)
		case err := <-f.Err():
			if first == nil {
				first = err
			}
		case <-timeout.C:
			if first == nil {
				first = jetstream.ErrAsyncPublishTimeout
			}
		}
	}
	if first == nil && !slices.IsSorted(seqs) {
		first = fmt.Errorf("the stream stored a batch out of order (%v)", seqs)
	}
	if first != nil {
		o.deleteNow(stored)
		return nil, diskError(first)
	}
	return seqs, nil
}

// deleteNow deletes stream sequences at once (undoing a failed batch);
// those it cannot delete are left to the deleter.
func (o *Outbox) deleteNow(ats []uint64) {
	for _, at := range ats {
		ctx, cancel := o.ctx()
		err := o.st.DeleteMsg(ctx, at)
		cancel()
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			o.mu.Lock()
			o.drops = append(o.drops, at)
			o.mu.Unlock()
			o.kickDeleter()
		}
	}
}

func (o *Outbox) precheck(n int, size int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending.Len()+n > o.opts.MaxMessages || o.pending.Bytes()+size > o.opts.MaxBytes {
		return outbox.FullError(o.opts, o.pending.Len(), o.pending.Bytes(), size)
	}
	return nil
}

// Pending returns a snapshot of the pending messages, oldest first.
func (o *Outbox) Pending() []outbox.Meta {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pending.Snapshot()
}

func (o *Outbox) isPending(seq uint64) (outbox.Meta, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pending.Get(seq)
}

// get reads the message at stream sequence at, which must be on subject.
func (o *Outbox) get(at uint64, subject string) (*jetstream.RawStreamMsg, error) {
	ctx, cancel := o.ctx()
	defer cancel()
	m, err := o.st.GetMsg(ctx, at)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, outbox.ErrNotFound
	case err != nil:
		return nil, diskError(err)
	case m.Subject != subject:
		return nil, fmt.Errorf("%w: stream sequence %d is on %s, not %s", outbox.ErrCorrupt, at, m.Subject, subject)
	}
	return m, nil
}

// Payload reads a pending message's payload from the stream.
func (o *Outbox) Payload(seq uint64) ([]byte, error) {
	if err := o.enter(); err != nil {
		return nil, err
	}
	defer o.closeMu.RUnlock()
	if _, ok := o.isPending(seq); !ok {
		return nil, fmt.Errorf("outbox: payload of %d: %w", seq, outbox.ErrNotFound)
	}
	// A leader election or a reconnect takes seconds: waited for here, a
	// while. After that the read fails with ErrDisk, and the uplink keeps
	// the message at its place and reads it again later (it parks only a
	// record that is damaged or gone).
	deadline := time.Now().Add(payloadPatience)
	for {
		m, err := o.get(seq, o.msgSub)
		switch {
		case err == nil:
			return m.Data, nil
		case errors.Is(err, outbox.ErrNotFound) || errors.Is(err, outbox.ErrCorrupt) || time.Now().After(deadline):
			return nil, fmt.Errorf("outbox: payload of %d: %w", seq, err)
		}
		o.log.Debug("outbox: payload not read; trying again", "seq", seq, "err", err)
		select {
		case <-o.closing:
			return nil, fmt.Errorf("outbox: payload of %d: %w", seq, outbox.ErrClosed)
		case <-time.After(payloadRetry):
		}
	}
}

// payloadPatience bounds how long Payload tries again after a failed read
// (NATS unreachable, a leader election: seconds); payloadRetry is the wait
// between reads.
const (
	payloadPatience = 30 * time.Second
	payloadRetry    = 200 * time.Millisecond
)

// removeLocked takes seq out of pending and queues its deletion (and its
// marker's). o.mu must be held.
func (o *Outbox) removeLocked(seq uint64) (outbox.Meta, bool) {
	m, ok := o.pending.Remove(seq)
	if !ok {
		return m, false
	}
	o.deletes = append(o.deletes, m.Seq)
	if at, ok := o.marks[m.Seq]; ok {
		o.drops = append(o.drops, at)
		delete(o.marks, m.Seq)
	}
	return m, true
}

// Remove takes messages out of the pending queue; their deletion from the
// stream follows (see Outbox).
func (o *Outbox) Remove(seqs ...uint64) error {
	if err := o.enter(); err != nil {
		return err
	}
	defer o.closeMu.RUnlock()
	o.mu.Lock()
	n := 0
	for _, seq := range seqs {
		if _, ok := o.removeLocked(seq); ok {
			n++
		}
	}
	o.mu.Unlock()
	if n > 0 {
		o.kickDeleter()
	}
	return nil
}

// RemoveOldest removes up to n of the oldest pending messages skip does
// not report, as [outbox.Outbox.RemoveOldest] does.
func (o *Outbox) RemoveOldest(n int, skip func(seq uint64) bool) ([]outbox.Meta, error) {
	if err := o.enter(); err != nil {
		return nil, err
	}
	defer o.closeMu.RUnlock()
	if n <= 0 {
		return nil, nil
	}
	picked := outbox.PickOldest(o.Pending(), n, skip)
	var removed []outbox.Meta
	o.mu.Lock()
	for _, seq := range picked {
		if len(removed) == n {
			break
		}
		if m, ok := o.removeLocked(seq); ok {
			removed = append(removed, m)
		}
	}
	o.mu.Unlock()
	if len(removed) > 0 {
		o.kickDeleter()
	}
	return removed, nil
}

// SetAttempts stores a marker with the count, and deletes the previous one.
func (o *Outbox) SetAttempts(seq uint64, n int) error {
	if err := o.enter(); err != nil {
		return err
	}
	defer o.closeMu.RUnlock()
	if n < 0 {
		return fmt.Errorf("outbox: set attempts of %d: negative count %d", seq, n)
	}
	if _, ok := o.isPending(seq); !ok {
		return fmt.Errorf("outbox: set attempts of %d: %w", seq, outbox.ErrNotFound)
	}
	h := nats.Header{}
	h.Set(hdrSeq, strconv.FormatUint(seq, 10))
	h.Set(hdrAttempts, strconv.Itoa(n))
	ctx, cancel := o.ctx()
	defer cancel()
	ack, err := o.js.PublishMsg(ctx, &nats.Msg{Subject: o.attSub, Header: h}, jetstream.WithExpectStream(o.cfg.Stream))
	if err != nil {
		return fmt.Errorf("outbox: set attempts of %d: %w", seq, diskError(err))
	}
	o.mu.Lock()
	if o.pending.SetAttempts(seq, n) {
		if prev, ok := o.marks[seq]; ok {
			o.drops = append(o.drops, prev)
		}
		o.marks[seq] = ack.Sequence
	} else { // removed meanwhile
		o.drops = append(o.drops, ack.Sequence)
	}
	o.mu.Unlock()
	o.kickDeleter()
	return nil
}

// Usage returns what the outbox holds; FileBytes is 0 (the stream's size
// is the server's to report).
func (o *Outbox) Usage() outbox.Usage {
	o.mu.Lock()
	defer o.mu.Unlock()
	return outbox.Usage{
		Messages: o.pending.Len(), Bytes: o.pending.Bytes(), MaxMessages: o.opts.MaxMessages, MaxBytes: o.opts.MaxBytes,
		Dead: len(o.dead), DeadBytes: o.deadBytes,
	}
}

// Close waits for calls in progress, makes one last attempt at the
// deletions not yet done, and stops. It does not close the connection.
func (o *Outbox) Close() error {
	o.closingOnce.Do(func() { close(o.closing) }) // a Payload waiting gives up
	o.closeMu.Lock()
	defer o.closeMu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	close(o.quit)
	<-o.stopped
	o.js.CleanupPublisher() // its reply subscription on the shared connection
	return nil
}
