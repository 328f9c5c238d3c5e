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
func (s *deviceAPI) unsubscribe(w http.ResponseWriter, r *http.Request) {
	filter := s.d.ExpandTopic(r.URL.Query().Get("filter"))
	if err := s.d.CheckTopic(filter, true); err != nil {
		feature.WriteError(w, http.StatusForbidden, fmt.Errorf("unsubscribe: %w", err))
		return
	}
	b := s.d.dev.Bus()
	res := localapi.UnsubscribeResult{
		Filter:           filter,
		WasSubscribed:    slices.Contains(s.d.dev.Status().Subscriptions, filter),
		LocalSubscribers: b.CloudSubscribers(filter),
	}
	if err := b.CloudUnsubscribe(r.Context(), filter); err != nil {
		feature.WriteError(w, http.StatusBadGateway, err)
		return
	}
	feature.WriteJSON(w, http.StatusOK, res)
}
