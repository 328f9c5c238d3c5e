package rrpc

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// The rrpc module: features.rrpc, GET /v1/rrpc/requests, POST
// /v1/rrpc/reply, the "rrpc" status section.
func init() {
	feature.Register(feature.Module{
		Name:   "rrpc",
		Config: func() feature.Section { return &Config{} },
		Needs:  feature.Needs{Downlink: true},
		New: func(sec feature.Section, env *feature.Env) (feature.Feature, error) {
			return New(*sec.(*Config), env.Bus, env.Device.ProductID, env.Device.DeviceName, env.Log)
		},
	})
}

// Routes mounts the request stream and the reply (feature.Router).
func (r *RRPC) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+localapi.PathRRPCRequests, r.serveRequests)
	mux.HandleFunc("POST "+localapi.PathRRPCReply, r.serveReply)
}

// Status is the "rrpc" section of the daemon's status (feature.Reporter).
func (r *RRPC) Status() any { return localapi.RRPCStats(r.Stats()) }

func (r *RRPC) serveRequests(w http.ResponseWriter, req *http.Request) {
	feature.StreamJSON(w, r.Subscribe(req.Context()), func(q Request) any {
		out := localapi.RRPCRequest{ProcessID: q.ProcessID, Topic: q.Topic, Received: q.Received, Deadline: q.Deadline}
		out.Payload, out.PayloadBase64 = localapi.TextOrBase64(q.Payload)
		return out
	})
}

func (r *RRPC) serveReply(w http.ResponseWriter, req *http.Request) {
	var body localapi.RRPCReply
	if !feature.DecodeBody(w, req, localapi.MaxRequestBody, "rrpc reply", &body) {
		return
	}
	payload, err := feature.Payload(body.Payload, body.PayloadBase64)
	if err != nil {
		feature.WriteError(w, http.StatusBadRequest, fmt.Errorf("rrpc reply: %w", err))
		return
	}
	if err := r.Reply(req.Context(), body.ProcessID, payload); err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, ErrUnknownProcess) {
			code = http.StatusNotFound
		}
		feature.WriteError(w, code, err)
		return
	}
	feature.WriteJSON(w, http.StatusOK, map[string]string{"process_id": body.ProcessID})
}
