package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/iotd/iotd/bus"
)

// MaxRequestBody is the local API's limit on a request body, and the CLI's
// on what it reads from stdin for one: the same number, so that what the CLI
// accepts the API does too.
const MaxRequestBody = 1 << 20

// PublishRequest is the body of POST /v1/publish. Exactly one of Payload and
// PayloadBase64 may be set.
type PublishRequest struct {
	Topic         string `json:"topic"`
	Payload       string `json:"payload,omitempty"`
	PayloadBase64 string `json:"payload_base64,omitempty"`
	QoS           int    `json:"qos"`
	// NoWait answers once the message is stored (QoS 1: on disk when the
	// outbox is on) instead of acknowledged.
	NoWait bool `json:"no_wait,omitempty"`
	// Timeout is how long to wait for the acknowledgement, in
	// milliseconds (0: as long as the client's connection stays). When it
	// passes, a message that has not gone out is withdrawn and the answer
	// is not_sent; one already on the wire is answered stored.
	Timeout int64 `json:"timeout_ms,omitempty"`
}

// PublishResponse is the answer of POST /v1/publish. Result is one of
// acknowledged, stored (queued; it will be sent), refused or not_sent (it
// will not be sent; Error says why).
type PublishResponse struct {
	Topic  string     `json:"topic"`
	Result bus.Result `json:"result"`
	Error  string     `json:"error,omitempty"`
}

// PublishError is a publish that was refused or not sent.
type PublishError struct {
	Result bus.Result
	Reason string
}

func (e *PublishError) Error() string {
	if e.Result == bus.NotSent {
		return "not sent: " + e.Reason
	}
	return e.Reason
}

func (s *apiServer) publish(w http.ResponseWriter, r *http.Request) {
	var req PublishRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
			err = fmt.Errorf("the request is over the local API's limit of %d bytes", MaxRequestBody)
		}
		writeError(w, code, fmt.Errorf("publish: bad request body: %w", err))
		return
	}
	payload, err := payloadOf(req.Payload, req.PayloadBase64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("publish: %w", err))
		return
	}
	topic := s.d.ExpandTopic(req.Topic)
	if err := s.d.CheckTopic(topic, false); err != nil {
		writeError(w, http.StatusForbidden, err)
		return
	}
	if req.QoS != 0 && req.QoS != 1 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("publish: qos %d: the hub supports 0 and 1", req.QoS))
		return
	}
	if req.Timeout < 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("publish: timeout_ms %d is negative", req.Timeout))
		return
	}
	ctx := r.Context()
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, time.Duration(req.Timeout)*time.Millisecond,
			fmt.Errorf("not acknowledged within %s", time.Duration(req.Timeout)*time.Millisecond))
		defer cancel()
	}
	res, err := s.d.bus.CloudPublishWith(ctx, topic, payload, bus.PublishOptions{QoS: byte(req.QoS), NoWait: req.NoWait})
	out := PublishResponse{Topic: topic, Result: res}
	code := http.StatusOK
	if err != nil {
		out.Error = err.Error()
		code = http.StatusServiceUnavailable // not sent: the uplink stopped or the client gave up
		if res == bus.Refused {
			code = http.StatusUnprocessableEntity
		}
	}
	writeJSON(w, code, out)
}
