package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/iotd/iotd/features/shadow"
	"github.com/iotd/iotd/localapi"
)

func (s *apiServer) shadowRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+localapi.PathShadow, s.shadowCached)
	mux.HandleFunc("POST "+localapi.PathShadowGet, s.shadowGet)
	mux.HandleFunc("POST "+localapi.PathShadowReport, s.shadowReport)
	mux.HandleFunc("POST "+localapi.PathShadowClearDesired, s.shadowClearDesired)
	mux.HandleFunc("GET "+localapi.PathShadowWatch, s.shadowWatch)
}

// shadowDocumentToWire maps a shadow document to the wire's.
func shadowDocumentToWire(d shadow.Document) localapi.ShadowDocument {
	return localapi.ShadowDocument(d)
}

func shadowDeltaToWire(d shadow.Delta) localapi.ShadowDelta {
	return localapi.ShadowDelta{State: d.State, Version: d.Version, Source: d.Source, Received: d.Received}
}

func (s *apiServer) shadowCached(w http.ResponseWriter, r *http.Request) {
	sh, err := s.d.shadowFor(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, shadowDocumentToWire(sh.Document()))
}

func (s *apiServer) shadowGet(w http.ResponseWriter, r *http.Request) {
	sh, err := s.d.shadowFor(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	doc, err := sh.Get(r.Context())
	if err != nil {
		writeError(w, shadowStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, shadowDocumentToWire(doc))
}

func (s *apiServer) shadowReport(w http.ResponseWriter, r *http.Request) {
	sh, err := s.d.shadowFor(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var req localapi.ShadowReport
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("shadow report: bad request body: %w", err))
		return
	}
	if len(req.Reported) == 0 {
		writeError(w, http.StatusBadRequest, errors.New("shadow report: nothing to report"))
		return
	}
	u := shadow.Update{Reported: make(map[string]any, len(req.Reported)), Overwrite: req.Overwrite}
	for k, v := range req.Reported {
		u.Reported[k] = v
		if req.ClearDesired {
			u.ClearDesiredKeys = append(u.ClearDesiredKeys, k)
		}
	}
	doc, err := sh.Update(r.Context(), u)
	if err != nil {
		writeError(w, shadowStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, shadowDocumentToWire(doc))
}

func (s *apiServer) shadowClearDesired(w http.ResponseWriter, r *http.Request) {
	sh, err := s.d.shadowFor(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	doc, err := sh.ClearDesired(r.Context())
	if err != nil {
		writeError(w, shadowStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, shadowDocumentToWire(doc))
}

func (s *apiServer) shadowWatch(w http.ResponseWriter, r *http.Request) {
	sh, err := s.d.shadowFor(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	streamJSON(w, sh.Watch(r.Context()), func(d shadow.Delta) any { return shadowDeltaToWire(d) })
}

// shadowStatus maps a shadow error to an HTTP status.
func shadowStatus(err error) int {
	switch {
	case errors.Is(err, shadow.ErrTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, shadow.ErrBusy):
		return http.StatusTooManyRequests
	case errors.Is(err, shadow.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, shadow.ErrRejected), errors.Is(err, shadow.ErrConflict):
		return http.StatusConflict
	}
	return http.StatusBadGateway
}
