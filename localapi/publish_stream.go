package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"sync"
	"time"
)

// A streaming publish: POST /v1/publish/stream carries many messages on
// one connection, full duplex. The request body is NDJSON, one
// [PublishStreamRequest] per line; the answer, 200 and NDJSON at once, has
// one [PublishStreamResult] per message, written as soon as the message's
// outcome is known.
//
//   - Order: the daemon hands the messages to the uplink in the order of
//     their lines, so the hub gets them in that order, as it gets those of
//     one publisher that waits for each answer. The results come in the
//     order the outcomes are known, not the order of the lines (a refusal
//     comes at once, an acknowledgement when the PUBACK does; PUBACKs come
//     in order): each carries the line number and the request's ID.
//   - Pipelining and back-pressure: the daemon does not wait for a
//     message's acknowledgement before it reads the next line, but at most
//     [PublishStreamWindow] messages (and about [PublishStreamWindowBytes]
//     of their lines) are between being read and having their result
//     written; beyond that it stops reading, and the socket pushes back on
//     the writer. A client that does not read the results therefore stops
//     being read from: read them while sending.
//   - Lines: each line is at most [MaxRequestBody] bytes, like the body of
//     POST /v1/publish, and has its fields and limits. A line that is not
//     a request (bad JSON, an unknown field, both payloads, a topic that is
//     not the device's, a QoS other than 0 and 1, too long) gets a refused
//     result whose error names the line, and the stream goes on. Empty
//     lines are skipped (they count as lines); a final "\r" is dropped.
//     timeout_ms is not supported on a stream (the message waits while the
//     stream lasts) and is refused.
//   - Keep-alive: while no result is due the daemon writes an empty line
//     every [PublishStreamKeepAlive] (skip empty lines): that is how it
//     learns that a client whose messages all wait (the link is down)
//     went away.
//   - End: when the request body ends, the daemon answers the messages
//     still in flight, then ends the answer. When the client goes away
//     first, the messages not yet on the wire are withdrawn (not_sent), as
//     for POST /v1/publish.

// PathPublishStream is the streaming publish.
const PathPublishStream = "/v1/publish/stream"

// PublishStreamWindow is how many messages of one stream the daemon holds
// between reading their line and writing their result: more are read as
// results are written.
const PublishStreamWindow = 1024

// PublishStreamWindowBytes bounds the bytes of the lines of the messages in
// a stream's window (one line always fits).
const PublishStreamWindowBytes = 8 << 20

// PublishStreamKeepAlive is how often the daemon writes an empty line on a
// publish stream that has no result to write.
const PublishStreamKeepAlive = 2 * time.Second

// PublishStreamRequest is one line of POST /v1/publish/stream: a
// [PublishRequest] (without Timeout) and an ID of the client's choosing,
// echoed in its result.
type PublishStreamRequest struct {
	// ID is the client's name for the message (optional, any string).
	ID string `json:"id,omitempty"`
	PublishRequest
}

// PublishStreamResult is the outcome of one line of a stream: Topic, Result
// and Error as a [PublishResponse] of POST /v1/publish (a line that was not
// a valid request is Refused, with the reason), Line its line number
// (from 1) and ID the request's.
type PublishStreamResult struct {
	Line int64  `json:"line"`
	ID   string `json:"id,omitempty"`
	PublishResponse
}

// Failed tells whether the message was refused or not sent.
func (r PublishStreamResult) Failed() bool {
	return r.Result != Acknowledged && r.Result != Stored
}

// ErrStreamSendClosed is returned by [PublishStream.Send] after Close.
var ErrStreamSendClosed = errors.New("iotd api: publish stream closed for sending")

// streamSendBuffer bounds the encoded lines a PublishStream holds before
// Send waits for them to be written to the socket.
const streamSendBuffer = 64 << 10

// PublishStream is an open POST /v1/publish/stream: [PublishStream.Send]
// writes messages, [PublishStream.Results] reads their outcomes,
// [PublishStream.Close] ends the sending.
//
// Send may be called from several goroutines; its lines are in the order
// of the calls. Results must be read while sending (from another
// goroutine): the daemon stops reading once [PublishStreamWindow] results
// wait, and Send then blocks. Lines are coalesced: several Sends made
// while the previous write was in the kernel go out in one write.
//
// To end, call Close and read Results to its end: it yields one result per
// line sent, then ends without an error. To abort, cancel the context
// given to [Client.PublishStream]: the daemon withdraws what has not gone
// out.
type PublishStream struct {
	cancel context.CancelFunc
	resp   *http.Response
	pw     *io.PipeWriter

	mu      sync.Mutex
	cond    *sync.Cond // buf emptied, buf filled, closed or failed
	buf     []byte     // lines not yet handed to the socket
	spare   []byte
	lines   int64 // lines sent
	closed  bool  // Close called
	err     error // the write side failed
	results bool  // Results called
}

// PublishStream opens a streaming publish (see [PathPublishStream]) to the
// device ForDevice chose. It returns once the daemon accepted the stream:
// an error is the daemon's refusal (an *[Error]) or [ErrNotRunning]. ctx
// bounds the whole stream; cancelling it aborts.
func (c *Client) PublishStream(ctx context.Context) (*PublishStream, error) {
	// An empty stream first: the daemon's refusals (no such device, a
	// daemon of several asked without one, a device starting, an old
	// daemon) come as answers to it. A stream it refuses without reading
	// the body would hold net/http's transport until the body ends.
	if err := c.do(ctx, http.MethodPost, PathPublishStream, nil, nil); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	// Whatever holds the transport reading the body lets go when ctx ends.
	context.AfterFunc(ctx, func() { pw.CloseWithError(context.Cause(ctx)) })
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://iotd"+c.devicePath(PathPublishStream), pr)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		pw.CloseWithError(err)
		return nil, c.wrap(err)
	}
	if resp.StatusCode != http.StatusOK {
		err := decodeError(resp.StatusCode, resp.Body)
		resp.Body.Close()
		cancel()
		pw.CloseWithError(err)
		return nil, err
	}
	s := &PublishStream{cancel: cancel, resp: resp, pw: pw}
	s.cond = sync.NewCond(&s.mu)
	go s.flush()
	return s, nil
}

// Send queues req as the stream's next line and returns its line number,
// which its result carries. It blocks while the daemon is not reading (see
// [PublishStream]); it fails once the stream is closed or broken.
func (s *PublishStream) Send(req PublishStreamRequest) (line int64, err error) {
	b, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.err == nil && !s.closed && len(s.buf) >= streamSendBuffer {
		s.cond.Wait()
	}
	switch {
	case s.err != nil:
		return 0, s.err
	case s.closed:
		return 0, ErrStreamSendClosed
	}
	s.buf = append(append(s.buf, b...), '\n')
	s.lines++
	s.cond.Broadcast()
	return s.lines, nil
}

// flush writes the queued lines to the request body, all that accumulated
// at each write, until Close (then it ends the body) or a failure.
func (s *PublishStream) flush() {
	for {
		s.mu.Lock()
		for len(s.buf) == 0 && !s.closed && s.err == nil {
			s.cond.Wait()
		}
		if s.err != nil || len(s.buf) == 0 { // failed, or closed and all written
			s.mu.Unlock()
			_ = s.pw.Close()
			return
		}
		out := s.buf
		s.buf = s.spare[:0]
		s.cond.Broadcast()
		s.mu.Unlock()
		_, err := s.pw.Write(out)
		s.mu.Lock()
		s.spare = out
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("iotd api: publish stream: %w", err)
			s.cond.Broadcast()
		}
		s.mu.Unlock()
	}
}

// Close ends the sending: the lines sent so far are written, then the
// request body ends, and the daemon answers what is in flight and ends
// the results. It does not wait for them: read [PublishStream.Results] to
// its end.
func (s *PublishStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.cond.Broadcast()
	return nil
}

// Results yields the result of each line, as the daemon writes them (see
// [PathPublishStream] for their order), until the stream ends: after Close,
// once every line sent has its result (no error), or with an error when the
// daemon closed the stream before ([ErrStreamClosed]) or the connection
// broke. Cancelling the stream's context ends it without an error; so does
// leaving the loop, which also aborts the stream. Results may be ranged
// over once.
func (s *PublishStream) Results() iter.Seq2[PublishStreamResult, error] {
	return func(yield func(PublishStreamResult, error) bool) {
		s.mu.Lock()
		again := s.results
		s.results = true
		s.mu.Unlock()
		if again {
			yield(PublishStreamResult{}, errors.New("iotd api: PublishStream.Results ranged over twice"))
			return
		}
		defer s.abort()
		var got int64
		stopped, err := readStream(s.resp.Body, func(r PublishStreamResult) bool {
			got++
			return yield(r, nil)
		})
		if stopped || s.resp.Request.Context().Err() != nil {
			return
		}
		s.mu.Lock()
		complete := s.closed && s.err == nil && got == s.lines && len(s.buf) == 0
		s.mu.Unlock()
		switch {
		case err != nil:
			yield(PublishStreamResult{}, fmt.Errorf("iotd api: publish stream: %w", err))
		case !complete:
			yield(PublishStreamResult{}, ErrStreamClosed)
		}
	}
}

// abort ends the stream: the request is cancelled and the body closed.
func (s *PublishStream) abort() {
	s.cancel()
	s.mu.Lock()
	if s.err == nil {
		s.err = ErrStreamClosed
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	_ = s.resp.Body.Close()
}
