package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/iotd/iotd/features/broadcast"
	"github.com/iotd/iotd/features/rrpc"
	"github.com/iotd/iotd/localapi"
)

var errBothPayloads = errors.New("set payload or payload_base64, not both")

func (s *apiServer) rrpcRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+localapi.PathRRPCRequests, s.rrpcRequests)
	mux.HandleFunc("POST "+localapi.PathRRPCReply, s.rrpcReply)
	mux.HandleFunc("GET "+localapi.PathBroadcast, s.broadcasts)
}

func (s *apiServer) rrpcRequests(w http.ResponseWriter, r *http.Request) {
	streamJSON(w, s.d.rrpc.Subscribe(r.Context()), func(q rrpc.Request) any {
		out := localapi.RRPCRequest{ProcessID: q.ProcessID, Topic: q.Topic, Received: q.Received, Deadline: q.Deadline}
		out.Payload, out.PayloadBase64 = localapi.TextOrBase64(q.Payload)
		return out
	})
}

func (s *apiServer) rrpcReply(w http.ResponseWriter, r *http.Request) {
	var req localapi.RRPCReply
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, localapi.MaxRequestBody))
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
		out := localapi.BroadcastMessage{Topic: m.Topic, Received: m.Received}
		out.Payload, out.PayloadBase64 = localapi.TextOrBase64(m.Payload)
		return out
	})
}
