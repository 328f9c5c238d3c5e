package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
)

func (s *apiServer) publish(w http.ResponseWriter, r *http.Request) {
	var req PublishRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("publish: bad request body: %w", err))
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
	if err := s.d.bus.CloudPublish(r.Context(), topic, payload, byte(req.QoS)); err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"topic": topic})
}
