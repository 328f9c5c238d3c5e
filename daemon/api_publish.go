package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

func (s *deviceAPI) publish(w http.ResponseWriter, r *http.Request) {
	var req localapi.PublishRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, localapi.MaxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
			err = fmt.Errorf("the request is over the local API's limit of %d bytes", localapi.MaxRequestBody)
		}
		feature.WriteError(w, code, fmt.Errorf("publish: bad request body: %w", err))
		return
	}
	payload, err := feature.Payload(req.Payload, req.PayloadBase64)
	if err != nil {
		feature.WriteError(w, http.StatusBadRequest, fmt.Errorf("publish: %w", err))
		return
	}
	topic := s.d.ExpandTopic(req.Topic)
	if err := s.d.CheckTopic(topic, false); err != nil {
		feature.WriteError(w, http.StatusForbidden, err)
		return
	}
	if req.QoS != 0 && req.QoS != 1 {
		feature.WriteError(w, http.StatusBadRequest, fmt.Errorf("publish: qos %d: the hub supports 0 and 1", req.QoS))
		return
	}
	if req.Timeout < 0 {
		feature.WriteError(w, http.StatusBadRequest, fmt.Errorf("publish: timeout_ms %d is negative", req.Timeout))
		return
	}
	ctx := r.Context()
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, time.Duration(req.Timeout)*time.Millisecond,
			fmt.Errorf("not acknowledged within %s", time.Duration(req.Timeout)*time.Millisecond))
		defer cancel()
	}
	res, err := s.d.dev.Bus().CloudPublishWith(ctx, topic, payload, bus.PublishOptions{QoS: byte(req.QoS), NoWait: req.NoWait})
	out := localapi.PublishResponse{Topic: topic, Result: localapi.PublishResult(res)}
	code := http.StatusOK
	if err != nil {
		out.Error = err.Error()
		code = http.StatusServiceUnavailable // not sent: the uplink stopped or the client gave up
		if res == bus.Refused {
			code = http.StatusUnprocessableEntity
		}
	}
	feature.WriteJSON(w, code, out)
}
