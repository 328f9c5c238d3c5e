package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/iotd/iotd/features/gateway"
	"github.com/iotd/iotd/localapi"
)

func (s *apiServer) gatewayRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+localapi.PathGateway, s.gatewayList)
	mux.HandleFunc("GET "+localapi.PathGatewayDescribe, s.gatewayDescribe)
	mux.HandleFunc("POST "+localapi.PathGatewaySubDevices, s.gatewayAdd)
	mux.HandleFunc("POST "+localapi.PathGateway+"/{op}", s.gatewayOp)
}

func refToWire(r gateway.Ref) localapi.DeviceRef {
	return localapi.DeviceRef{ProductID: r.ProductID, DeviceName: r.DeviceName}
}

func subDeviceToWire(s gateway.SubDevice) localapi.SubDevice {
	return localapi.SubDevice{DeviceRef: refToWire(s.Ref), State: s.State, Bound: s.Bound, Configured: s.Configured,
		CanBind: s.CanBind, Since: s.Since, LastError: s.LastError}
}

func gatewayResultsToWire(rs gateway.Results) []localapi.GatewayResult {
	out := make([]localapi.GatewayResult, len(rs))
	for i, r := range rs {
		out[i] = localapi.GatewayResult{DeviceRef: refToWire(r.Ref), Code: r.Code, Error: r.Error}
	}
	return out
}

func (s *apiServer) gatewayList(w http.ResponseWriter, _ *http.Request) {
	subs := s.d.gateway.List()
	out := make([]localapi.SubDevice, len(subs))
	for i, sub := range subs {
		out[i] = subDeviceToWire(sub)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *apiServer) gatewayDescribe(w http.ResponseWriter, r *http.Request) {
	refs, err := s.d.gateway.Describe(r.Context())
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	out := make([]localapi.DeviceRef, len(refs))
	for i, ref := range refs {
		out[i] = refToWire(ref)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *apiServer) gatewayAdd(w http.ResponseWriter, r *http.Request) {
	var req localapi.SubDeviceConfig
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("gateway add: bad request body: %w", err))
		return
	}
	sub := gateway.SubDeviceConfig{ProductID: req.ProductID, DeviceName: req.DeviceName, DeviceSecret: req.DeviceSecret, CertFile: req.CertFile}
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
	var req localapi.GatewayRequest
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
	case localapi.GatewayOnline:
		res, err = s.d.gateway.Online(r.Context(), refs...)
	case localapi.GatewayOffline:
		res, err = s.d.gateway.Offline(r.Context(), refs...)
	case localapi.GatewayBind:
		res, err = s.d.gateway.Bind(r.Context(), refs...)
	case localapi.GatewayUnbind:
		res, err = s.d.gateway.Unbind(r.Context(), refs...)
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("gateway: unknown operation %q: use online, offline, bind or unbind", r.PathValue("op")))
		return
	}
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	out := localapi.GatewayResults{Results: gatewayResultsToWire(res)}
	if err := res.Err(); err != nil {
		out.Error = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}
