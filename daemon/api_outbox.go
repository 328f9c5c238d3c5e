package daemon

import (
	"errors"
	"net/http"

	mqttup "github.com/iotd/iotd/bus/mqtt"
	"github.com/iotd/iotd/bus/outbox"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// boundToWire maps a queue's use; nil (no outbox) stays nil.
func boundToWire(b *mqttup.Bound) *localapi.Bound {
	if b == nil {
		return nil
	}
	w := localapi.Bound(*b)
	return &w
}

func (s *apiServer) outboxRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+localapi.PathOutbox, s.outboxList)
	mux.HandleFunc("POST "+localapi.PathOutbox+"/{id}/retry", s.outboxRetry)
	mux.HandleFunc("DELETE "+localapi.PathOutbox+"/{id}", s.outboxDrop)
}

var errNoOutboxOnCoAP = errors.New("outbox: the CoAP channel keeps no outbox or dead letters")

func (s *apiServer) outboxList(w http.ResponseWriter, _ *http.Request) {
	u := s.d.mqtt
	if u == nil {
		feature.WriteError(w, http.StatusNotFound, errNoOutboxOnCoAP)
		return
	}
	dead, err := u.DeadLetters()
	if err != nil {
		feature.WriteError(w, http.StatusInternalServerError, err)
		return
	}
	st := u.Status()
	out := localapi.OutboxList{Outbox: boundToWire(st.Outbox), Memory: localapi.Bound(st.Memory), DeadLetters: make([]localapi.DeadLetter, len(dead))}
	for i, d := range dead {
		out.DeadLetters[i] = localapi.DeadLetter(d)
	}
	feature.WriteJSON(w, http.StatusOK, out)
}

func (s *apiServer) outboxRetry(w http.ResponseWriter, r *http.Request) {
	s.outboxAct(w, r, func(u *mqttup.Uplink, id string) error { return u.RetryDeadLetter(id) })
}

func (s *apiServer) outboxDrop(w http.ResponseWriter, r *http.Request) {
	s.outboxAct(w, r, func(u *mqttup.Uplink, id string) error { return u.DropDeadLetter(id) })
}

func (s *apiServer) outboxAct(w http.ResponseWriter, r *http.Request, act func(*mqttup.Uplink, string) error) {
	u := s.d.mqtt
	if u == nil {
		feature.WriteError(w, http.StatusNotFound, errNoOutboxOnCoAP)
		return
	}
	id := r.PathValue("id")
	if err := act(u, id); err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, mqttup.ErrNoDeadLetter):
			code = http.StatusNotFound
		case errors.Is(err, outbox.ErrFull):
			code = http.StatusInsufficientStorage
		}
		feature.WriteError(w, code, err)
		return
	}
	feature.WriteJSON(w, http.StatusOK, map[string]string{"id": id})
}
