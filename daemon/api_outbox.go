package daemon

import (
	"errors"
	"net/http"

	"github.com/iotd/iotd/device"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// The outbox's dead letters (GET /v1/outbox, POST /v1/outbox/{id}/retry,
// DELETE /v1/outbox/{id}), through the device.

func (s *deviceAPI) outboxRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+localapi.PathOutbox, s.outboxList)
	mux.HandleFunc("POST "+localapi.PathOutbox+"/{id}/retry", s.outboxRetry)
	mux.HandleFunc("DELETE "+localapi.PathOutbox+"/{id}", s.outboxDrop)
}

func (s *deviceAPI) outboxList(w http.ResponseWriter, _ *http.Request) {
	out, err := s.d.dev.DeadLetters()
	if err != nil {
		feature.WriteError(w, outboxCode(err), err)
		return
	}
	feature.WriteJSON(w, http.StatusOK, out)
}

func (s *deviceAPI) outboxRetry(w http.ResponseWriter, r *http.Request) {
	s.outboxAct(w, r, s.d.dev.RetryDeadLetter)
}

func (s *deviceAPI) outboxDrop(w http.ResponseWriter, r *http.Request) {
	s.outboxAct(w, r, s.d.dev.DropDeadLetter)
}

func (s *deviceAPI) outboxAct(w http.ResponseWriter, r *http.Request, act func(id string) error) {
	id := r.PathValue("id")
	if err := act(id); err != nil {
		feature.WriteError(w, outboxCode(err), err)
		return
	}
	feature.WriteJSON(w, http.StatusOK, map[string]string{"id": id})
}

// outboxCode is the HTTP status of a dead-letter error.
func outboxCode(err error) int {
	switch {
	case errors.Is(err, device.ErrNoOutbox), errors.Is(err, device.ErrNoDeadLetter):
		return http.StatusNotFound
	case errors.Is(err, device.ErrOutboxFull):
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}
