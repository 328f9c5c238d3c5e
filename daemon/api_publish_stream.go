package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// POST /v1/publish/stream: many publishes on one connection (see
// localapi.PathPublishStream for the contract).
//
// The handler speaks the bus's uplink protocol itself instead of calling
// Bus.CloudPublishWith once per message: CloudPublishWith returns only
// with the outcome, so keeping many messages in flight would take one
// goroutine each, and goroutines started in order do not reach the uplink
// in order. Requests published on bus.TopicUplinkPublish by one goroutine
// are served in order by every uplink (MQTT, CoAP, AT), each accepted
// (queued, or refused) before the next is looked at, and answered on the
// stream's own reply topic. So the stream's reader publishes each line's
// request and goes on to the next line; a collector matches the replies to
// the lines; a writer writes the results. Between reading a line and
// writing its result a message holds a place in the stream's window
// (localapi.PublishStreamWindow messages, PublishStreamWindowBytes bytes of
// lines): when it is full the reader stops reading and the socket pushes
// back on the client, and the results are never more than the window.
//
// The connection is HTTP/1.1 full duplex (http.ResponseController's
// EnableFullDuplex), not hijacked: the client is an ordinary HTTP client,
// errors before the stream starts are ordinary JSON answers, and the
// server's connection bookkeeping (the connection limit, Shutdown) still
// sees it. The request's read deadline is lifted: a stream lasts as long
// as the client sends.

// streamSeq names the streams' reply topics and requests.
var streamSeq atomic.Uint64

// pubStream is one running stream.
type pubStream struct {
	api     *deviceAPI
	bus     *bus.Bus
	name    string // prefix of the stream's request ids, and its reply topic
	replyTo string

	win window

	results chan streamResult // capacity: the window; sends never block

	mu          sync.Mutex
	pending     map[string]*streamMsg // sent to the uplink, not answered
	outstanding int                   // lines read whose result is not yet in results
	readDone    bool
}

// streamMsg is a line sent to the uplink, waiting for its reply.
type streamMsg struct {
	line  int64
	id    string
	topic string
	size  int64
}

type streamResult struct {
	localapi.PublishStreamResult
	size int64 // its place in the window
}

func (s *deviceAPI) publishStream(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.d.dev.Ready():
	default:
		feature.WriteError(w, http.StatusServiceUnavailable, errors.New("publish stream: the device is starting; try again"))
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.EnableFullDuplex(); err != nil {
		feature.WriteError(w, http.StatusInternalServerError, fmt.Errorf("publish stream: %w", err))
		return
	}
	_ = rc.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	n := strconv.FormatUint(streamSeq.Add(1), 10)
	st := &pubStream{
		api: s, bus: s.d.dev.Bus(), name: "stream-" + n, replyTo: "localapi.publish-stream." + n,
		results: make(chan streamResult, localapi.PublishStreamWindow),
		pending: map[string]*streamMsg{},
	}
	replies, err := st.bus.Subscribe(ctx, st.replyTo)
	if err != nil {
		feature.WriteError(w, http.StatusServiceUnavailable, fmt.Errorf("publish stream: %w", err))
		return
	}
	go st.collect(replies)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	written := make(chan struct{})
	go func() {
		defer close(written)
		if !st.write(ctx, w, rc) {
			cancel() // the client went away: stop reading, withdraw
		}
	}()
	if err := st.read(ctx, r.Body); err == nil {
		select {
		case <-written: // every result written
			return
		case <-ctx.Done():
		}
	}
	cancel()
	st.withdrawPending()
	<-written
}

// read reads the lines of body and sends each to the uplink, or its
// refusal to the results, until the body ends (nil) or fails, or ctx ends.
func (st *pubStream) read(ctx context.Context, body io.Reader) error {
	lr := newLineReader(body, localapi.MaxRequestBody)
	for {
		line, num, err := lr.next()
		if errors.Is(err, io.EOF) {
			st.mu.Lock()
			st.readDone = true
			if st.outstanding == 0 {
				close(st.results)
			}
			st.mu.Unlock()
			return nil
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			return err
		}
		if err == nil && len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		size := int64(len(line))
		if err := st.win.acquire(ctx, size); err != nil {
			return err
		}
		st.mu.Lock()
		st.outstanding++
		st.mu.Unlock()
		m := &streamMsg{line: num, size: size}
		var req localapi.PublishStreamRequest
		var payload []byte
		if err == nil {
			req, payload, err = st.api.parseStreamLine(line)
		}
		m.id = req.ID
		if req.Topic != "" {
			m.topic = st.api.d.ExpandTopic(req.Topic)
		}
		if err != nil {
			st.answer(m, localapi.Refused, fmt.Sprintf("line %d: %v", num, err))
			continue
		}
		if err := st.send(ctx, m, req, payload); err != nil {
			return err
		}
	}
}

// errLineTooLong: a line over the limit (the rest of it was skipped).
var errLineTooLong = errors.New("line too long")

// parseStreamLine decodes one line of a stream and checks it as POST
// /v1/publish checks its body.
func (s *deviceAPI) parseStreamLine(line []byte) (localapi.PublishStreamRequest, []byte, error) {
	req, payload, err := decodeStreamLine(line)
	if err != nil {
		return req, nil, err
	}
	if err := s.d.CheckTopic(s.d.ExpandTopic(req.Topic), false); err != nil {
		return req, nil, err
	}
	return req, payload, nil
}

// decodeStreamLine decodes one line of a stream into a request and its
// payload, with the checks that need no device: one JSON object, no
// unknown field, one payload, QoS 0 or 1, no timeout_ms.
func decodeStreamLine(line []byte) (localapi.PublishStreamRequest, []byte, error) {
	var req localapi.PublishStreamRequest
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, nil, fmt.Errorf("publish: bad request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, nil, errors.New("publish: bad request: more than one JSON value on the line")
	}
	payload, err := feature.Payload(req.Payload, req.PayloadBase64)
	if err != nil {
		return req, nil, fmt.Errorf("publish: %w", err)
	}
	if req.QoS != 0 && req.QoS != 1 {
		return req, nil, fmt.Errorf("publish: qos %d: the hub supports 0 and 1", req.QoS)
	}
	if req.Timeout != 0 {
		return req, nil, errors.New("publish: timeout_ms is not supported on a stream (a message waits while the stream lasts; use POST /v1/publish)")
	}
	return req, payload, nil
}

// send hands a message to the uplink; it is answered on the stream's reply
// topic. A request the uplink's queue of requests had no room for is sent
// again (and the lines behind it wait) until it fits or ctx ends.
func (st *pubStream) send(ctx context.Context, m *streamMsg, req localapi.PublishStreamRequest, payload []byte) error {
	id := st.name + "." + strconv.FormatInt(m.line, 10)
	st.mu.Lock()
	st.pending[id] = m
	st.mu.Unlock()
	if sub := st.bus.Submitter(); sub != nil {
		// The uplink in this process takes it by a call, in this order,
		// and answers through the callback: no request and reply on the
		// bus per line.
		err := sub.Submit(id, m.topic, payload, bus.PublishOptions{QoS: byte(req.QoS), NoWait: req.NoWait}, func(res bus.Result, reason error) {
			msg := ""
			if reason != nil {
				msg = reason.Error()
			}
			st.settle(id, localapi.PublishResult(res), msg)
		})
		if err != nil {
			st.settle(id, localapi.Refused, err.Error())
		}
		return nil
	}
	msg := message.NewMessage(id, payload)
	msg.Metadata.Set(bus.MetaTopic, m.topic)
	msg.Metadata.Set(bus.MetaQoS, strconv.Itoa(req.QoS))
	if req.NoWait {
		msg.Metadata.Set(bus.MetaWait, "stored")
	}
	msg.Metadata.Set(bus.MetaReplyTo, st.replyTo)
	msg.Metadata.Set(bus.MetaCorrelationID, id)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := st.bus.Publish(bus.TopicUplinkPublish, msg)
		if err == nil {
			return nil
		}
		if !errors.Is(err, bus.ErrQueueFull) {
			if st.forget(id) {
				st.answer(m, localapi.NotSent, fmt.Sprintf("publish %s: not sent: %v", m.topic, err))
			}
			return nil
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			if st.forget(id) {
				st.answer(m, localapi.NotSent, fmt.Sprintf("publish %s: not sent: %v", m.topic, context.Cause(ctx)))
			}
			return ctx.Err()
		}
	}
}

// forget takes id out of the pending messages; false if it was answered.
func (st *pubStream) forget(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	_, ok := st.pending[id]
	delete(st.pending, id)
	return ok
}

// collect matches the uplink's replies to the pending messages.
func (st *pubStream) collect(replies <-chan *message.Message) {
	for rep := range replies {
		rep.Ack()
		st.settle(rep.Metadata.Get(bus.MetaCorrelationID), localapi.PublishResult(rep.Metadata.Get(bus.MetaResult)), rep.Metadata.Get(bus.MetaError))
	}
}

// settle answers pending message id with the uplink's outcome.
func (st *pubStream) settle(id string, res localapi.PublishResult, reason string) {
	st.mu.Lock()
	m, ok := st.pending[id]
	delete(st.pending, id)
	st.mu.Unlock()
	if !ok {
		return
	}
	switch {
	case res == localapi.NotSent:
		st.answer(m, res, fmt.Sprintf("publish %s: not sent: %s", m.topic, reason))
	case res == localapi.Refused || reason != "":
		st.answer(m, localapi.Refused, fmt.Sprintf("publish %s: %s", m.topic, reason))
	case res == "": // an uplink that predates results: acknowledged
		st.answer(m, localapi.Acknowledged, "")
	default:
		st.answer(m, res, "")
	}
}

// answer queues a line's result for the writer.
func (st *pubStream) answer(m *streamMsg, res localapi.PublishResult, reason string) {
	r := streamResult{size: m.size}
	r.Line, r.ID, r.Topic, r.Result, r.Error = m.line, m.id, m.topic, res, reason
	st.mu.Lock()
	defer st.mu.Unlock()
	st.results <- r // never blocks: at most a window of results exist
	st.outstanding--
	if st.readDone && st.outstanding == 0 {
		close(st.results)
	}
}

// write writes the results, flushing when none is waiting, and frees their
// places in the window, until every line has its result (true) or the
// client went away or ctx ended (false).
func (st *pubStream) write(ctx context.Context, w io.Writer, rc *http.ResponseController) bool {
	enc := json.NewEncoder(w)
	idle := time.NewTicker(localapi.PublishStreamKeepAlive)
	defer idle.Stop()
	for {
		var r streamResult
		var ok bool
		select {
		case r, ok = <-st.results:
		case <-idle.C:
			// A keep-alive: a client that went away while nothing is
			// answered is noticed by this write failing (the reader may be
			// waiting for room in the window, not reading).
			if _, err := io.WriteString(w, "\n"); err != nil || rc.Flush() != nil {
				return false
			}
			continue
		case <-ctx.Done():
			return false
		}
		if !ok {
			return rc.Flush() == nil
		}
		if err := enc.Encode(r.PublishStreamResult); err != nil {
			return false
		}
		if len(st.results) == 0 {
			if err := rc.Flush(); err != nil {
				return false
			}
		}
		st.win.release(r.size)
	}
}

// withdrawPending withdraws the messages still waiting for the uplink's
// answer after the client went away: those not on the wire yet are not
// sent, as with a single publish whose client gave up.
func (st *pubStream) withdrawPending() {
	st.mu.Lock()
	ids := make([]string, 0, len(st.pending))
	for id := range st.pending {
		ids = append(ids, id)
	}
	st.mu.Unlock()
	if sub := st.bus.Submitter(); sub != nil {
		for _, id := range ids {
			sub.Withdraw(id)
		}
		return
	}
	for _, id := range ids {
		m := message.NewMessage(id+".withdraw", nil)
		m.Metadata.Set(bus.MetaWithdraw, id)
		_ = st.bus.Publish(bus.TopicUplinkPublish, m)
	}
}

// window counts the messages of a stream between reading their line and
// writing their result, and the bytes of their lines.
type window struct {
	mu      sync.Mutex
	n       int
	bytes   int64
	waiting chan struct{} // closed at the next release; nil if nobody waits
}

// acquire waits until a line of size bytes fits the window (one always
// fits an empty one) and counts it, or until ctx ends.
func (w *window) acquire(ctx context.Context, size int64) error {
	for {
		w.mu.Lock()
		if w.n == 0 || (w.n < localapi.PublishStreamWindow && w.bytes+size <= localapi.PublishStreamWindowBytes) {
			w.n++
			w.bytes += size
			w.mu.Unlock()
			return nil
		}
		if w.waiting == nil {
			w.waiting = make(chan struct{})
		}
		wake := w.waiting
		w.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release frees the place of a line of size bytes.
func (w *window) release(size int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n--
	w.bytes -= size
	if w.waiting != nil {
		close(w.waiting)
		w.waiting = nil
	}
}

// lineReader splits a stream into lines of at most max bytes without
// holding more than that of a longer one.
type lineReader struct {
	r    *bufio.Reader
	max  int
	line []byte
	num  int64
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line without its "\n" (or "\r\n") and its number
// (from 1). A line over max is skipped to its end and reported with
// errLineTooLong (and no bytes). A last line without "\n" is a line; the
// end of the stream is io.EOF, another read error is returned as is.
// The line is valid until the next call.
func (lr *lineReader) next() ([]byte, int64, error) {
	lr.line = lr.line[:0]
	tooLong := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if !tooLong {
			if len(lr.line)+len(chunk) > lr.max+2 { // room for "\r\n"
				tooLong = true
				lr.line = lr.line[:0]
			} else {
				lr.line = append(lr.line, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == nil:
		case errors.Is(err, io.EOF) && (len(lr.line) > 0 || tooLong):
		default:
			return nil, lr.num, err
		}
		lr.num++
		line := bytes.TrimSuffix(bytes.TrimSuffix(lr.line, []byte("\n")), []byte("\r"))
		if tooLong || len(line) > lr.max {
			return nil, lr.num, fmt.Errorf("%w: over the local API's limit of %d bytes", errLineTooLong, lr.max)
		}
		return line, lr.num, nil
	}
}
