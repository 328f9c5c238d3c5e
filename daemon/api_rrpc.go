package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/iotd/iotd/features/broadcast"
	"github.com/iotd/iotd/features/rrpc"
)

// RRPCRequest is one line of GET /v1/rrpc/requests: a request from the
// cloud waiting for POST /v1/rrpc/reply before Deadline.
type RRPCRequest struct {
	ProcessID     string    `json:"process_id"`
	Topic         string    `json:"topic"`
	Payload       string    `json:"payload,omitempty"`
	PayloadBase64 string    `json:"payload_base64,omitempty"`
	Received      time.Time `json:"received"`
	Deadline      time.Time `json:"deadline"`
}

// RRPCReply is the body of POST /v1/rrpc/reply.
type RRPCReply struct {
	ProcessID     string `json:"process_id"`
	Payload       string `json:"payload,omitempty"`
	PayloadBase64 string `json:"payload_base64,omitempty"`
}

// BroadcastMessage is one line of GET /v1/broadcast.
type BroadcastMessage struct {
	Topic         string    `json:"topic"`
	Payload       string    `json:"payload,omitempty"`
	PayloadBase64 string    `json:"payload_base64,omitempty"`
	Received      time.Time `json:"received"`
}

var errBothPayloads = errors.New("set payload or payload_base64, not both")

func (s *apiServer) rrpcRequests(w http.ResponseWriter, r *http.Request) {
	streamJSON(w, s.d.rrpc.Subscribe(r.Context()), func(q rrpc.Request) any {
		out := RRPCRequest{ProcessID: q.ProcessID, Topic: q.Topic, Received: q.Received, Deadline: q.Deadline}
		out.Payload, out.PayloadBase64 = textOrBase64(q.Payload)
		return out
	})
}

func (s *apiServer) rrpcReply(w http.ResponseWriter, r *http.Request) {
	var req RRPCReply
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("rrpc reply: bad request body: %w", err))
		return
	}
	payload, err := payloadOf(req.Payload, req.PayloadBase64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("rrpc reply: %w", err))
		return
	}
	if err := s.d.rrpc.Reply(r.Context(), req.ProcessID, payload); err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, rrpc.ErrUnknownProcess) {
			code = http.StatusNotFound
		}
		writeError(w, code, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"process_id": req.ProcessID})
}

func (s *apiServer) broadcasts(w http.ResponseWriter, r *http.Request) {
	streamJSON(w, s.d.bcast.Subscribe(r.Context()), func(m broadcast.Message) any {
		out := BroadcastMessage{Topic: m.Topic, Received: m.Received}
		out.Payload, out.PayloadBase64 = textOrBase64(m.Payload)
		return out
	})
}
