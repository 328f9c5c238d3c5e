package shadow

import (
	"errors"
	"net/http"

	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// Routes mounts the local API's /v1/shadow routes; each takes
// ?device=PRODUCT/DEVICE for an online sub-device's shadow
// (feature.Router).
func (m *module) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+localapi.PathShadow, m.with(func(w http.ResponseWriter, _ *http.Request, sh *Shadow) {
		feature.WriteJSON(w, http.StatusOK, documentToWire(sh.Document()))
	}))
	mux.HandleFunc("POST "+localapi.PathShadowGet, m.with(func(w http.ResponseWriter, r *http.Request, sh *Shadow) {
		answer(w)(sh.Get(r.Context()))
	}))
	mux.HandleFunc("POST "+localapi.PathShadowReport, m.with(serveReport))
	mux.HandleFunc("POST "+localapi.PathShadowClearDesired, m.with(func(w http.ResponseWriter, r *http.Request, sh *Shadow) {
		answer(w)(sh.ClearDesired(r.Context()))
	}))
	mux.HandleFunc("GET "+localapi.PathShadowWatch, m.with(func(w http.ResponseWriter, r *http.Request, sh *Shadow) {
		feature.StreamJSON(w, sh.Watch(r.Context()), func(d Delta) any {
			return localapi.ShadowDelta{State: d.State, Version: d.Version, Source: d.Source, Received: d.Received}
		})
	}))
}

// with finds the request's shadow, answering 400 when there is none.
func (m *module) with(h func(http.ResponseWriter, *http.Request, *Shadow)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sh, err := m.shadowFor(r)
		if err != nil {
			feature.WriteError(w, http.StatusBadRequest, err)
			return
		}
		h(w, r, sh)
	}
}

// answer writes a document, or the error with its status.
func answer(w http.ResponseWriter) func(Document, error) {
	return func(doc Document, err error) {
		if err != nil {
			feature.WriteError(w, statusOf(err), err)
			return
		}
		feature.WriteJSON(w, http.StatusOK, documentToWire(doc))
	}
}

func serveReport(w http.ResponseWriter, r *http.Request, sh *Shadow) {
	var req localapi.ShadowReport
	if !feature.DecodeBody(w, r, 64<<10, "shadow report", &req) {
		return
	}
	if len(req.Reported) == 0 {
		feature.WriteError(w, http.StatusBadRequest, errors.New("shadow report: nothing to report"))
		return
	}
	u := Update{Reported: make(map[string]any, len(req.Reported)), Overwrite: req.Overwrite}
	for k, v := range req.Reported {
		u.Reported[k] = v
		if req.ClearDesired {
			u.ClearDesiredKeys = append(u.ClearDesiredKeys, k)
		}
	}
	answer(w)(sh.Update(r.Context(), u))
}

// documentToWire maps a shadow document to the wire's.
func documentToWire(d Document) localapi.ShadowDocument { return localapi.ShadowDocument(d) }

// statusOf maps a shadow error to an HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrBusy):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrRejected), errors.Is(err, ErrConflict):
		return http.StatusConflict
	}
	return http.StatusBadGateway
}
