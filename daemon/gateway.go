package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/iotd/iotd/features/gateway"
)

// GatewayRequest is the body of POST /v1/gateway/{online,offline,bind,unbind}.
type GatewayRequest struct {
	// Devices are "PRODUCT/DEVICE" names; empty means every known
	// sub-device (not allowed for unbind).
	Devices []string `json:"devices"`
}

// GatewayResults is the answer to a gateway operation: one result per
// sub-device, and a summary error when any failed.
type GatewayResults struct {
	Results gateway.Results `json:"results"`
	Error   string          `json:"error,omitempty"`
}

func (s *apiServer) gatewayList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.d.gateway.List())
}

func (s *apiServer) gatewayDescribe(w http.ResponseWriter, r *http.Request) {
	refs, err := s.d.gateway.Describe(r.Context())
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, refs)
}

func (s *apiServer) gatewayAdd(w http.ResponseWriter, r *http.Request) {
	var sub gateway.SubDeviceConfig
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sub); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("gateway add: bad request body: %w", err))
		return
	}
	if err := s.d.gateway.AddSubDevice(sub); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, gateway.ErrExists) {
			code = http.StatusConflict
		}
		writeError(w, code, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"added": sub.String()})
}

func (s *apiServer) gatewayOp(w http.ResponseWriter, r *http.Request) {
	var req GatewayRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("gateway: bad request body: %w", err))
		return
	}
	refs := make([]gateway.Ref, 0, len(req.Devices))
	for _, d := range req.Devices {
		ref, err := gateway.ParseRef(d)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		refs = append(refs, ref)
	}
	var (
		res gateway.Results
		err error
	)
	switch r.PathValue("op") {
	case "online":
		res, err = s.d.gateway.Online(r.Context(), refs...)
	case "offline":
		res, err = s.d.gateway.Offline(r.Context(), refs...)
	case "bind":
		res, err = s.d.gateway.Bind(r.Context(), refs...)
	case "unbind":
		res, err = s.d.gateway.Unbind(r.Context(), refs...)
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("gateway: unknown operation %q: use online, offline, bind or unbind", r.PathValue("op")))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	out := GatewayResults{Results: res}
	if err := res.Err(); err != nil {
		out.Error = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}
