package daemon

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// The local API of several devices: each device's routes are the
// single-device ones, served under /v1/devices/{name} (see package
// localapi); the unprefixed paths are the only device's, or refused with
// 400 when several run. GET /v1/devices lists them; the drivers and the AT
// modems are the daemon's, shared by its devices, and answer unprefixed
// too.

// deviceAPI serves one device's routes: its d, the device, hides the
// embedded server's (the daemon), so that the handlers read as a daemon
// of one device's did.
type deviceAPI struct {
	*apiServer
	d *Unit
}

// routes builds the daemon's handler: the daemon's own routes, and each
// device's under its prefix.
func (s *apiServer) routes() http.Handler {
	s.muxes = map[string]*http.ServeMux{}
	for _, u := range s.d.units {
		s.muxes[u.name] = s.deviceRoutes(u)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+localapi.PathDevices, s.devices)
	mux.HandleFunc(localapi.PathDevices+"/{name}/", s.toDevice)
	mux.HandleFunc("GET "+localapi.PathDrivers, s.drivers)
	s.atRoutes(mux)
	mux.HandleFunc("/", s.unprefixed)
	return mux
}

// deviceRoutes are the routes of one device: those of a daemon of one.
func (s *apiServer) deviceRoutes(u *Unit) *http.ServeMux {
	da := &deviceAPI{apiServer: s, d: u}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+localapi.PathStatus, da.status)
	mux.HandleFunc("POST "+localapi.PathPublish, da.publish)
	mux.HandleFunc("POST "+localapi.PathPublishStream, da.publishStream)
	mux.HandleFunc("GET "+localapi.PathSubscribe, da.subscribe)
	mux.HandleFunc("DELETE "+localapi.PathSubscribe, da.unsubscribe)
	mux.HandleFunc("GET "+localapi.PathDrivers, s.drivers)
	da.outboxRoutes(mux)
	s.atRoutes(mux)
	u.dev.Routes(mux) // the features' own
	return mux
}

// devices answers GET /v1/devices.
func (s *apiServer) devices(w http.ResponseWriter, _ *http.Request) {
	out := make([]localapi.DeviceSummary, len(s.d.units))
	for i, u := range s.d.units {
		id := u.Identity()
		out[i] = localapi.DeviceSummary{Name: u.name, ProductID: id.ProductID, DeviceName: id.DeviceName,
			Channel: u.Contact().Channel, State: localapi.DeviceStarting}
		select {
		case <-u.dev.Ready():
			st := u.dev.Status()
			out[i].State, out[i].Err = st.Link.State, st.Link.Err
		default:
		}
	}
	feature.WriteJSON(w, http.StatusOK, out)
}

// toDevice serves /v1/devices/{name}/X as the device's /v1/X.
func (s *apiServer) toDevice(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	mux, ok := s.muxes[name]
	if !ok {
		feature.WriteError(w, http.StatusNotFound, fmt.Errorf("no device %q in this iotd: its devices are %s (GET %s)",
			name, strings.Join(s.d.names(), ", "), localapi.PathDevices))
		return
	}
	prefix := localapi.PathDevices + "/" + name
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path = "/v1" + strings.TrimPrefix(r.URL.Path, prefix)
	if r.URL.RawPath != "" {
		r2.URL.RawPath = "/v1" + strings.TrimPrefix(r.URL.RawPath, localapi.PathDevices+"/"+url.PathEscape(name))
	}
	mux.ServeHTTP(w, r2)
}

// unprefixed serves the paths of a daemon of one device: that device's,
// or, with several, a refusal that says how to pick one.
func (s *apiServer) unprefixed(w http.ResponseWriter, r *http.Request) {
	if len(s.d.units) == 1 {
		s.muxes[s.d.units[0].name].ServeHTTP(w, r)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/v1")
	feature.WriteError(w, http.StatusBadRequest, fmt.Errorf(
		"this iotd runs %d devices (%s): pick one with --device NAME (or IOTD_DEVICE); the local API's path is %s/NAME%s",
		len(s.d.units), strings.Join(s.d.names(), ", "), localapi.PathDevices, rest))
}
