package hubsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// SysRequest is a request on $sys/operation/{pid}/{dn}.
type SysRequest struct {
	Type     string   `json:"type"`
	Resource []string `json:"resource"`
}

// ErrSysRequest is wrapped by errors for a $sys request the hub does not
// answer.
var ErrSysRequest = errors.New("hubsim: $sys request")

// ParseSysRequest decodes and checks a $sys request. The only one the hub
// answers is {"type": "get", "resource": ["time"]}; unknown fields are
// ignored, as a JSON server does.
func ParseSysRequest(payload []byte) (SysRequest, error) {
	var r SysRequest
	if err := json.Unmarshal(payload, &r); err != nil {
		return SysRequest{}, fmt.Errorf("%w: not a JSON object: %v", ErrSysRequest, err)
	}
	if r.Type != "get" {
		return SysRequest{}, fmt.Errorf("%w: type %q: only \"get\" is supported", ErrSysRequest, r.Type)
	}
	if !slices.Contains(r.Resource, "time") {
		return SysRequest{}, fmt.Errorf("%w: resource %q: only [\"time\"] is supported", ErrSysRequest, r.Resource)
	}
	return r, nil
}

// TimeReply is the hub's answer on $sys/operation/result/{pid}/{dn}.
type TimeReply struct {
	Type string `json:"type"`
	// Time is the hub time in seconds; NTPTime1 and NTPTime2 are the receive
	// and send times in milliseconds (C SDK v3.2.3 and later read them).
	Time     int64 `json:"time"`
	NTPTime1 int64 `json:"ntptime1"`
	NTPTime2 int64 `json:"ntptime2"`
}

// timeService answers $sys time requests. Malformed or unsupported
// requests are logged and not answered: the device times out, as against a
// hub that does not recognise the request.
type timeService struct{}

func (timeService) Name() string { return "time" }

func (timeService) Start(_ context.Context, h *Hub) error {
	h.Handle("time", "$sys/operation/+/+", func(m Message) {
		if _, err := ParseSysRequest(m.Payload); err != nil {
			h.log.Warn("$sys request ignored", "device", m.Device.String(), "error", err)
			return
		}
		sent := h.now()
		reply, _ := json.Marshal(TimeReply{Type: "get", Time: sent.Unix(),
			NTPTime1: m.Received.UnixMilli(), NTPTime2: sent.UnixMilli()})
		topic := strings.Replace(m.Topic, "$sys/operation/", "$sys/operation/result/", 1)
		if err := h.Publish(topic, reply, 0); err != nil {
			h.log.Warn("$sys reply", "device", m.Device.String(), "error", err)
		}
	})
	return nil
}
