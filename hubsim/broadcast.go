package hubsim

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// BroadcastResult is the answer of POST /products/{pid}/broadcast.
type BroadcastResult struct {
	Topic string `json:"topic"` // $broadcast/rxd/{pid}/{dn} of each device
	Bytes int    `json:"bytes"`
	// Devices is the number of devices of the product, Online how many of
	// them were connected, and Delivered the names of the online devices
	// subscribed to their broadcast topic, which got the message.
	Devices   int      `json:"devices"`
	Online    int      `json:"online"`
	Delivered []string `json:"delivered"`
}

// BroadcastTopic is the broadcast topic of a device.
func BroadcastTopic(dev DeviceRef) string {
	return "$broadcast/rxd/" + dev.ProductID + "/" + dev.DeviceName
}

// broadcastService sends a message to every device of a product, each on its
// own $broadcast/rxd/{pid}/{dn}, with QoS 1.
type broadcastService struct{ h *Hub }

func init() { registerBuiltin(func() Service { return &broadcastService{} }) }

func (*broadcastService) Name() string { return "broadcast" }

func (s *broadcastService) Start(_ context.Context, h *Hub) error {
	s.h = h
	h.Admin().HandleFunc("POST /products/{pid}/broadcast", s.handle)
	return nil
}

// Broadcast sends payload to every device of product pid.
func (s *broadcastService) Broadcast(pid string, payload []byte) (BroadcastResult, error) {
	if _, err := s.h.store.Product(pid); err != nil {
		return BroadcastResult{}, err
	}
	res := BroadcastResult{Topic: "$broadcast/rxd/" + pid + "/{dn}", Bytes: len(payload), Delivered: []string{}}
	for _, d := range s.h.store.Devices(pid) {
		dev := DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}
		res.Devices++
		st := s.h.tracker.status(dev.ClientID())
		if !st.Connected {
			continue // the hub keeps no messages for offline devices
		}
		res.Online++
		topic := BroadcastTopic(dev)
		if err := s.h.Publish(topic, payload, 1); err != nil {
			return res, err
		}
		if subscribedTo(st.Subscriptions, topic) {
			res.Delivered = append(res.Delivered, dev.DeviceName)
		}
	}
	s.h.log.Info("broadcast", "product", pid, "bytes", len(payload), "devices", res.Devices,
		"online", res.Online, "delivered", len(res.Delivered))
	return res, nil
}

func (s *broadcastService) handle(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	res, err := s.Broadcast(r.PathValue("pid"), body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// Broadcast sends payload to every device of product pid through the admin
// API.
func (c *Client) Broadcast(ctx context.Context, pid string, payload []byte) (BroadcastResult, error) {
	if payload == nil {
		payload = []byte{}
	}
	var v BroadcastResult
	err := c.do(ctx, http.MethodPost, "/products/"+url.PathEscape(pid)+"/broadcast", payload, &v)
	if err != nil {
		return v, fmt.Errorf("broadcast to product %s: %w", pid, err)
	}
	return v, nil
}
