package hubsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/iotd/iotd/internal/pki"
)

func init() { registerBuiltin(func() Service { return &shadowService{} }) }

// shadowFile is where the documents are persisted, in the state directory.
const shadowFile = "shadows.json"

// ShadowView is a device's shadow as the admin API shows it: the stored
// document and the delta the hub computes from it.
type ShadowView struct {
	ShadowDocument
	Delta map[string]json.RawMessage `json:"delta,omitempty"`
}

// shadowService is the device shadow (PROTOCOL.md §2.2): it answers get,
// update and delete on $shadow/operation/{pid}/{dn} with results on
// $shadow/operation/result/{pid}/{dn}, and pushes a delta to a connected
// device whenever its desired state is changed through the admin API. A
// device that is offline then gets the delta from its next get
// (state.delta). Documents are persisted in the state directory.
//
// Requests that cannot be parsed far enough to have a client token are
// logged and not answered; others get a result with a non-zero code.
type shadowService struct {
	h    *Hub
	path string

	mu   sync.Mutex // guards docs and the file; held across pushes to keep them in version order
	docs map[string]ShadowDocument
}

func (s *shadowService) Name() string { return "shadow" }

func (s *shadowService) Start(_ context.Context, h *Hub) error {
	s.h = h
	s.path = filepath.Join(h.cfg.StateDir, shadowFile)
	s.docs = map[string]ShadowDocument{}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("hubsim: shadows: %w", err)
	default:
		if err := json.Unmarshal(data, &s.docs); err != nil {
			return fmt.Errorf("hubsim: shadows file %s is corrupt (%v); fix or remove it", s.path, err)
		}
	}
	h.Handle("shadow", "$shadow/operation/+/+", s.handle)
	m := h.Admin()
	m.HandleFunc("GET /devices/{pid}/{dn}/shadow", func(w http.ResponseWriter, r *http.Request) {
		ref, ok := s.device(w, r)
		if !ok {
			return
		}
		writeJSON(w, http.StatusOK, s.View(ref))
	})
	desire := func(replace bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { s.adminUpdate(w, r, "desired", replace) }
	}
	m.HandleFunc("POST /devices/{pid}/{dn}/shadow/desired", desire(true))
	m.HandleFunc("PATCH /devices/{pid}/{dn}/shadow/desired", desire(false))
	m.HandleFunc("PATCH /devices/{pid}/{dn}/shadow/reported", func(w http.ResponseWriter, r *http.Request) {
		s.adminUpdate(w, r, "reported", false)
	})
	return nil
}

func (s *shadowService) device(w http.ResponseWriter, r *http.Request) (DeviceRef, bool) {
	d, err := s.h.store.Device(r.PathValue("pid"), r.PathValue("dn"))
	if err != nil {
		writeError(w, err)
		return DeviceRef{}, false
	}
	return DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}, true
}

// adminUpdate changes the desired (merge, or replace) or reported (merge)
// part from a JSON object body; a key set to null is removed.
func (s *shadowService) adminUpdate(w http.ResponseWriter, r *http.Request, part string, replace bool) {
	ref, ok := s.device(w, r)
	if !ok {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var values map[string]json.RawMessage
	if err := json.Unmarshal(body, &values); err != nil || values == nil {
		writeError(w, fmt.Errorf("%w: request body: a JSON object of keys and values is expected", ErrInvalid))
		return
	}
	req := ShadowRequest{Type: "update", Overwrite: replace}
	if part == "desired" {
		req.HasDesired, req.Desired = true, values
	} else {
		req.HasReported, req.Reported = true, values
	}
	if _, err := s.update(ref, req); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.View(ref))
}

// View returns a device's document and delta.
func (s *shadowService) View(ref DeviceRef) ShadowView {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.docs[ref.String()].clone()
	return ShadowView{ShadowDocument: d, Delta: d.Delta()}
}

func (s *shadowService) resultTopic(ref DeviceRef) string {
	return "$shadow/operation/result/" + ref.ProductID + "/" + ref.DeviceName
}

// handle answers one device request.
func (s *shadowService) handle(m Message) {
	h := s.h
	// The document is the topic's device: the publisher itself, or a
	// sub-device its gateway acts for (the ACL let the publish through).
	ref := m.Device
	if parts := strings.Split(m.Topic, "/"); len(parts) == 4 {
		ref = DeviceRef{ProductID: parts[2], DeviceName: parts[3]}
	}
	if m.Topic != "$shadow/operation/"+ref.ProductID+"/"+ref.DeviceName || !h.deviceExists(ref) {
		h.log.Warn("shadow request ignored", "device", m.Device.String(), "topic", m.Topic, "reason", "not a device's shadow topic")
		return
	}
	req, code, err := ParseShadowRequest(m.Payload)
	if err != nil {
		h.log.Warn("shadow request rejected", "device", ref.String(), "error", err, "result", code)
		if req.ClientToken != "" {
			typ := req.Type
			if typ == "" {
				typ = "update"
			}
			s.reply(ref, ShadowResult{Type: typ, Result: code, ClientToken: req.ClientToken, Timestamp: h.now().Unix()})
		}
		return
	}
	res := ShadowResult{Type: req.Type, ClientToken: req.ClientToken, Timestamp: h.now().Unix()}
	switch req.Type {
	case "get":
		s.mu.Lock()
		d := s.docs[ref.String()]
		s.mu.Unlock()
		res.Payload = getPayload(d)
	case "delete":
		s.mu.Lock()
		d := s.docs[ref.String()]
		d = ShadowDocument{Version: d.Version + 1, Timestamp: h.now().UnixMilli()}
		err := s.storeLocked(ref, d)
		s.mu.Unlock()
		if err != nil {
			h.log.Error("shadow delete", "device", ref.String(), "error", err)
			res.Result = ShadowInvalid
			break
		}
		res.Payload = map[string]any{"version": d.Version, "timestamp": d.Timestamp}
	case "update":
		d, err := s.update(ref, req)
		switch {
		case errors.Is(err, errShadowConflict):
			res.Result = ShadowConflict
		case errors.Is(err, errShadowTooLarge):
			res.Result = ShadowTooLarge
		case err != nil:
			res.Result = ShadowInvalid
		default:
			res.Payload = updatePayload(d, req)
		}
		if err != nil {
			h.log.Warn("shadow update rejected", "device", ref.String(), "clientToken", req.ClientToken, "result", res.Result, "error", err)
		}
	}
	s.reply(ref, res)
}

func (s *shadowService) reply(ref DeviceRef, res ShadowResult) {
	b, _ := json.Marshal(res)
	if err := s.h.Publish(s.resultTopic(ref), b, 0); err != nil {
		s.h.log.Warn("shadow result", "device", ref.String(), "error", err)
	}
}

var (
	errShadowConflict = fmt.Errorf("%w: version conflict", ErrInvalid)
	errShadowTooLarge = fmt.Errorf("%w: shadow document over %d bytes", ErrInvalid, MaxShadowBytes)
)

// update applies req (from the device or the admin API), persists the
// document and, when the desired part changed and the device is connected,
// pushes the delta.
func (s *shadowService) update(ref DeviceRef, req ShadowRequest) (ShadowDocument, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.docs[ref.String()]
	if req.Version != nil && *req.Version != 0 && *req.Version != cur.Version {
		return cur, fmt.Errorf("%w: request version %d, document version %d", errShadowConflict, *req.Version, cur.Version)
	}
	d, desiredChanged := applyUpdate(cur, req, s.h.now().UnixMilli())
	if b, _ := json.Marshal(d); len(b) > MaxShadowBytes {
		return cur, fmt.Errorf("%w (it would be %d bytes)", errShadowTooLarge, len(b))
	}
	if err := s.storeLocked(ref, d); err != nil {
		return cur, err
	}
	if !desiredChanged {
		return d, nil
	}
	delta := d.Delta()
	switch {
	case delta == nil:
	case !s.h.Status(ref.ProductID, ref.DeviceName).Connected:
		s.h.log.Info("shadow delta kept for the device's next get", "device", ref.String(), "version", d.Version, "reason", "device offline")
	default:
		b, _ := json.Marshal(ShadowResult{Type: "delta", Timestamp: s.h.now().Unix(), Payload: deltaPayload(d, delta)})
		if err := s.h.Publish(s.resultTopic(ref), b, 0); err != nil {
			s.h.log.Warn("shadow delta", "device", ref.String(), "error", err)
		}
	}
	return d, nil
}

// storeLocked records d and rewrites the file (atomic, 0600).
func (s *shadowService) storeLocked(ref DeviceRef, d ShadowDocument) error {
	old, had := s.docs[ref.String()]
	s.docs[ref.String()] = d
	data, err := json.MarshalIndent(s.docs, "", "  ")
	if err == nil {
		err = pki.WriteFileAtomic(s.path, append(data, '\n'), 0o600)
	}
	if err != nil {
		if had {
			s.docs[ref.String()] = old
		} else {
			delete(s.docs, ref.String())
		}
		return fmt.Errorf("hubsim: shadows: %w", err)
	}
	return nil
}

// ParseShadowValues turns key=value arguments into a JSON object's values:
// a value that is valid JSON is used as is (42, true, null, {"a":1}),
// anything else as a string.
func ParseShadowValues(args []string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: %q: write key=value", ErrInvalid, a)
		}
		if json.Valid([]byte(v)) {
			out[k] = json.RawMessage(v)
		} else {
			s, _ := json.Marshal(v)
			out[k] = s
		}
	}
	return out, nil
}
