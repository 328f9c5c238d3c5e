package hubsim

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RRPC timeouts of the admin API (POST /devices/{pid}/{dn}/rrpc?timeout=).
const (
	DefaultRRPCTimeout = 5 * time.Second
	MaxRRPCTimeout     = 5 * time.Minute
)

// ErrRRPCTimeout is wrapped by errors for an RRPC call the device did not
// answer in time (HTTP 504 from the admin API).
var ErrRRPCTimeout = errors.New("hubsim: rrpc timeout")

// RRPCReply is the answer of POST /devices/{pid}/{dn}/rrpc.
type RRPCReply struct {
	ProcessID string `json:"processId"`
	// Payload is the device's reply as text, or base64 when Binary is set.
	Payload string `json:"payload"`
	Binary  bool   `json:"binary,omitempty"`
	// Elapsed is the time from sending the request to the reply, in ms.
	ElapsedMS int64 `json:"elapsedMs"`
}

// PayloadBytes returns the reply payload as bytes.
func (r RRPCReply) PayloadBytes() []byte {
	return Record{Payload: r.Payload, Binary: r.Binary}.PayloadBytes()
}

// ParseRRPCReplyTopic splits a device's reply topic
// `$rrpc/txd/{pid}/{dn}/{processId}`.
func ParseRRPCReplyTopic(topic string) (dev DeviceRef, processID string, err error) {
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0] != "$rrpc" || parts[1] != "txd" || parts[2] == "" || parts[3] == "" || parts[4] == "" {
		return DeviceRef{}, "", fmt.Errorf("%w: rrpc reply topic %q: want $rrpc/txd/{pid}/{dn}/{processId}", ErrInvalid, topic)
	}
	return DeviceRef{ProductID: parts[2], DeviceName: parts[3]}, parts[4], nil
}

// ParseRRPCTimeout reads the timeout query parameter: "" is the default, a
// Go duration ("5s") or whole seconds ("5"), at most MaxRRPCTimeout.
func ParseRRPCTimeout(s string) (time.Duration, error) {
	if s == "" {
		return DefaultRRPCTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.Atoi(s)
		if nerr != nil {
			return 0, fmt.Errorf("%w: timeout %q: write a duration such as 5s", ErrInvalid, s)
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 || d > MaxRRPCTimeout {
		return 0, fmt.Errorf("%w: timeout %s: use more than 0 and at most %s", ErrInvalid, d, MaxRRPCTimeout)
	}
	return d, nil
}

// rrpcService sends RRPC requests to devices for the admin API and matches
// their replies by device and process id, so any number of calls may be in
// flight at once.
type rrpcService struct {
	h       *Hub
	seq     atomic.Uint64
	mu      sync.Mutex
	pending map[string]chan []byte // by pid/dn/processId
}

func init() {
	registerBuiltin(func() Service { return &rrpcService{pending: map[string]chan []byte{}} })
}

func (*rrpcService) Name() string { return "rrpc" }

func (s *rrpcService) Start(_ context.Context, h *Hub) error {
	s.h = h
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	// Start somewhere random so ids differ between hub runs; 12 digits
	// leave room below the 16-character limit.
	s.seq.Store(binary.BigEndian.Uint64(seed[:]) % 1e12)
	h.Handle("rrpc", "$rrpc/txd/+/+/+", s.onReply)
	h.Admin().HandleFunc("POST /devices/{pid}/{dn}/rrpc", s.handleCall)
	return nil
}

func (s *rrpcService) onReply(m Message) {
	dev, id, err := ParseRRPCReplyTopic(m.Topic)
	if err != nil || dev != m.Device {
		s.h.log.Warn("rrpc reply ignored", "device", m.Device.String(), "topic", m.Topic, "reason", "not a reply topic of the device")
		return
	}
	s.mu.Lock()
	ch, ok := s.pending[dev.String()+"/"+id]
	if ok {
		delete(s.pending, dev.String()+"/"+id)
	}
	s.mu.Unlock()
	if !ok {
		s.h.log.Warn("rrpc reply ignored", "device", dev.String(), "process_id", id,
			"reason", "no call waits for this process id (timed out, answered already, or never sent)")
		return
	}
	ch <- append([]byte(nil), m.Payload...) // buffered 1, sent once
}

// Call sends payload to device pid/dn as an RRPC request and waits for the
// reply until timeout or ctx ends.
func (s *rrpcService) Call(ctx context.Context, dev DeviceRef, payload []byte, timeout time.Duration) (RRPCReply, error) {
	id := strconv.FormatUint(s.seq.Add(1)%1e16, 10)
	key := dev.String() + "/" + id
	ch := make(chan []byte, 1)
	s.mu.Lock()
	s.pending[key] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, key)
		s.mu.Unlock()
	}()
	start := s.h.now()
	topic := "$rrpc/rxd/" + dev.ProductID + "/" + dev.DeviceName + "/" + id
	if err := s.h.Publish(topic, payload, 0); err != nil {
		return RRPCReply{}, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case p := <-ch:
		r := newRecord(time.Time{}, "", "", 0, p)
		return RRPCReply{ProcessID: id, Payload: r.Payload, Binary: r.Binary,
			ElapsedMS: s.h.now().Sub(start).Milliseconds()}, nil
	case <-t.C:
		return RRPCReply{ProcessID: id}, fmt.Errorf("%w after %s: device %s sent no reply for process id %s", ErrRRPCTimeout, timeout, dev, id)
	case <-ctx.Done():
		return RRPCReply{ProcessID: id}, fmt.Errorf("hubsim: rrpc %s: %w", dev, ctx.Err())
	}
}

func (s *rrpcService) handleCall(w http.ResponseWriter, r *http.Request) {
	d, err := s.h.store.Device(r.PathValue("pid"), r.PathValue("dn"))
	if err != nil {
		writeError(w, err)
		return
	}
	dev := DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}
	timeout, err := ParseRRPCTimeout(r.URL.Query().Get("timeout"))
	if err != nil {
		writeError(w, err)
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	st := s.h.tracker.status(dev.ClientID())
	if !st.Connected {
		writeJSON(w, http.StatusConflict, errorBody{Error: fmt.Sprintf("hubsim: device %s is offline; an RRPC call needs a connected device", dev)})
		return
	}
	reply, err := s.Call(r.Context(), dev, body, timeout)
	switch {
	case errors.Is(err, ErrRRPCTimeout):
		msg := err.Error()
		if !subscribedTo(st.Subscriptions, "$rrpc/rxd/"+dev.ProductID+"/"+dev.DeviceName+"/"+reply.ProcessID) {
			msg += fmt.Sprintf(" (it is not subscribed to $rrpc/rxd/%s/%s/+)", dev.ProductID, dev.DeviceName)
		}
		writeJSON(w, http.StatusGatewayTimeout, errorBody{Error: msg})
	case err != nil:
		writeError(w, err)
	default:
		writeJSON(w, http.StatusOK, reply)
	}
}

// subscribedTo reports whether one of filters matches topic.
func subscribedTo(filters []string, topic string) bool {
	for _, f := range filters {
		if Match(f, topic) {
			return true
		}
	}
	return false
}
