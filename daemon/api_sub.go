package daemon

import (
	"fmt"
	"net/http"
	"slices"
)

// UnsubscribeResult answers DELETE /v1/subscribe.
type UnsubscribeResult struct {
	// Filter is the filter as expanded ("event" → "{pid}/{dn}/event").
	Filter string `json:"filter"`
	// WasSubscribed tells whether the uplink held the filter (an
	// acknowledged subscription) before the request.
	WasSubscribed bool `json:"was_subscribed"`
	// LocalSubscribers counts the local holders of the filter (/v1/subscribe
	// streams, iotd's features). Their streams stay open but receive nothing
	// more for it until someone subscribes to it again.
	LocalSubscribers int `json:"local_subscribers"`
}

// unsubscribe drops the cloud subscription to a filter, however many local
// subscribers hold it.
func (s *apiServer) unsubscribe(w http.ResponseWriter, r *http.Request) {
	filter := s.d.ExpandTopic(r.URL.Query().Get("filter"))
	if err := s.d.CheckTopic(filter, true); err != nil {
		writeError(w, http.StatusForbidden, fmt.Errorf("unsubscribe: %w", err))
		return
	}
	var st Status
	s.d.uplinkStatus(&st)
	res := UnsubscribeResult{
		Filter:           filter,
		WasSubscribed:    slices.Contains(st.Subscriptions, filter),
		LocalSubscribers: s.d.bus.CloudSubscribers(filter),
	}
	if err := s.d.bus.CloudUnsubscribe(r.Context(), filter); err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
