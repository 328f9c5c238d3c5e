package daemon

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// unsubscribe drops the cloud subscription to a filter, however many local
// subscribers hold it.
func (s *apiServer) unsubscribe(w http.ResponseWriter, r *http.Request) {
	filter := s.d.ExpandTopic(r.URL.Query().Get("filter"))
	if err := s.d.CheckTopic(filter, true); err != nil {
		feature.WriteError(w, http.StatusForbidden, fmt.Errorf("unsubscribe: %w", err))
		return
	}
	var st localapi.Status
	s.d.uplinkStatus(&st)
	res := localapi.UnsubscribeResult{
		Filter:           filter,
		WasSubscribed:    slices.Contains(st.Subscriptions, filter),
		LocalSubscribers: s.d.bus.CloudSubscribers(filter),
	}
	if err := s.d.bus.CloudUnsubscribe(r.Context(), filter); err != nil {
		feature.WriteError(w, http.StatusBadGateway, err)
		return
	}
	feature.WriteJSON(w, http.StatusOK, res)
}
