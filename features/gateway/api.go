package gateway

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// Routes mounts the local API's /v1/gateway routes (feature.Router).
func (g *Gateway) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+localapi.PathGateway, g.serveList)
	mux.HandleFunc("GET "+localapi.PathGatewayDescribe, g.serveDescribe)
	mux.HandleFunc("POST "+localapi.PathGatewaySubDevices, g.serveAdd)
	mux.HandleFunc("POST "+localapi.PathGateway+"/{op}", g.serveOp)
}

func refToWire(r Ref) localapi.DeviceRef {
	return localapi.DeviceRef{ProductID: r.ProductID, DeviceName: r.DeviceName}
}

func subDeviceToWire(s SubDevice) localapi.SubDevice {
	return localapi.SubDevice{DeviceRef: refToWire(s.Ref), State: s.State, Bound: s.Bound, Configured: s.Configured,
		CanBind: s.CanBind, Since: s.Since, LastError: s.LastError}
}

func resultsToWire(rs Results) []localapi.GatewayResult {
	out := make([]localapi.GatewayResult, len(rs))
	for i, r := range rs {
		out[i] = localapi.GatewayResult{DeviceRef: refToWire(r.Ref), Code: r.Code, Error: r.Error}
	}
	return out
}

func (g *Gateway) serveList(w http.ResponseWriter, _ *http.Request) {
	subs := g.List()
	out := make([]localapi.SubDevice, len(subs))
	for i, sub := range subs {
		out[i] = subDeviceToWire(sub)
	}
	feature.WriteJSON(w, http.StatusOK, out)
}

func (g *Gateway) serveDescribe(w http.ResponseWriter, r *http.Request) {
	refs, err := g.Describe(r.Context())
	if err != nil {
		feature.WriteError(w, http.StatusBadGateway, err)
		return
	}
	out := make([]localapi.DeviceRef, len(refs))
	for i, ref := range refs {
		out[i] = refToWire(ref)
	}
	feature.WriteJSON(w, http.StatusOK, out)
}

func (g *Gateway) serveAdd(w http.ResponseWriter, r *http.Request) {
	var req localapi.SubDeviceConfig
	if !feature.DecodeBody(w, r, 64<<10, "gateway add", &req) {
		return
	}
	sub := SubDeviceConfig{ProductID: req.ProductID, DeviceName: req.DeviceName, DeviceSecret: req.DeviceSecret, CertFile: req.CertFile}
	if err := g.AddSubDevice(sub); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrExists) {
			code = http.StatusConflict
		}
		feature.WriteError(w, code, err)
		return
	}
	feature.WriteJSON(w, http.StatusOK, map[string]string{"added": sub.String()})
}

func (g *Gateway) serveOp(w http.ResponseWriter, r *http.Request) {
	var req localapi.GatewayRequest
	if !feature.DecodeBody(w, r, 64<<10, "gateway", &req) {
		return
	}
	refs := make([]Ref, 0, len(req.Devices))
	for _, d := range req.Devices {
		ref, err := ParseRef(d)
		if err != nil {
			feature.WriteError(w, http.StatusBadRequest, err)
			return
		}
		refs = append(refs, ref)
	}
	var (
		res Results
		err error
	)
	switch r.PathValue("op") {
	case localapi.GatewayOnline:
		res, err = g.Online(r.Context(), refs...)
	case localapi.GatewayOffline:
		res, err = g.Offline(r.Context(), refs...)
	case localapi.GatewayBind:
		res, err = g.Bind(r.Context(), refs...)
	case localapi.GatewayUnbind:
		res, err = g.Unbind(r.Context(), refs...)
	default:
		feature.WriteError(w, http.StatusNotFound, fmt.Errorf("gateway: unknown operation %q: use online, offline, bind or unbind", r.PathValue("op")))
		return
	}
	if err != nil {
		feature.WriteError(w, http.StatusBadGateway, err)
		return
	}
	out := localapi.GatewayResults{Results: resultsToWire(res)}
	if err := res.Err(); err != nil {
		out.Error = err.Error()
	}
	feature.WriteJSON(w, http.StatusOK, out)
}
