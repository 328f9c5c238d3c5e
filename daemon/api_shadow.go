package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/iotd/iotd/features/shadow"
)

// ShadowReport is the body of POST /v1/shadow/report.
type ShadowReport struct {
	// Reported values are merged into the reported state.
	Reported map[string]json.RawMessage `json:"reported"`
	// ClearDesired removes, from desired, the keys being reported: "I have
	// applied these".
	ClearDesired bool `json:"clear_desired,omitempty"`
	// Overwrite replaces the reported state instead of merging.
	Overwrite bool `json:"overwrite,omitempty"`
}

func (s *apiServer) shadowCached(w http.ResponseWriter, r *http.Request) {
	sh, err := s.d.shadowFor(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, sh.Document())
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
	writeJSON(w, http.StatusOK, doc)
}

func (s *apiServer) shadowReport(w http.ResponseWriter, r *http.Request) {
	sh, err := s.d.shadowFor(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var req ShadowReport
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
	writeJSON(w, http.StatusOK, doc)
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
	writeJSON(w, http.StatusOK, doc)
}

func (s *apiServer) shadowWatch(w http.ResponseWriter, r *http.Request) {
	sh, err := s.d.shadowFor(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	streamJSON(w, sh.Watch(r.Context()), func(d shadow.Delta) any { return d })
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
