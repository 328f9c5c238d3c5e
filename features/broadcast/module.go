package broadcast

import (
	"net/http"

	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// The broadcast module: features.broadcast, GET /v1/broadcast, the
// "broadcast" status section.
func init() {
	feature.Register(feature.Module{
		Name:   "broadcast",
		Config: func() feature.Section { return &Config{} },
		Needs:  feature.Needs{Downlink: true},
		New: func(sec feature.Section, env *feature.Env) (feature.Feature, error) {
			return New(*sec.(*Config), env.Bus, env.Device.ProductID, env.Device.DeviceName, env.Log)
		},
	})
}

// Routes mounts GET /v1/broadcast, the stream of broadcasts (feature.Router).
func (bc *Broadcast) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+localapi.PathBroadcast, func(w http.ResponseWriter, r *http.Request) {
		feature.StreamJSON(w, bc.Subscribe(r.Context()), func(m Message) any {
			out := localapi.BroadcastMessage{Topic: m.Topic, Received: m.Received}
			out.Payload, out.PayloadBase64 = localapi.TextOrBase64(m.Payload)
			return out
		})
	})
}

// Status is the "broadcast" section of the daemon's status (feature.Reporter).
func (bc *Broadcast) Status() any { return localapi.BroadcastStats(bc.Stats()) }
