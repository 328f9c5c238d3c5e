package ota

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"

	"github.com/iotd/iotd/bus"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/hub"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/localapi"
)

// Two modules: "ota", the device's own firmware updates (features.ota,
// GET /v1/ota, the "ota" status section), through the channel's module
// when it downloads firmware itself (at-tencent); and "sub_device_ota"
// (subdevices.go), a gateway's sub-devices' updates.
func init() {
	feature.Register(feature.Module{
		Name:   "ota",
		Config: func() feature.Section { return &Config{} },
		New: func(sec feature.Section, env *feature.Env) (feature.Feature, error) {
			cfg := *sec.(*Config)
			var f otaFeature
			var err error
			if env.Caps.Firmware != nil && !cfg.Disabled {
				f, err = newModuleOTA(cfg, env)
			} else {
				f, err = build(cfg, "features.ota", env.Device.ProductID, env.Device.DeviceName, env.StateDir, env)
			}
			if err != nil {
				return nil, err
			}
			return ownModule{f}, nil
		},
	})
	feature.Register(feature.Module{
		Name:   "sub_device_ota",
		Config: func() feature.Section { return &SubDeviceConfigs{} },
		Needs:  feature.Needs{Downlink: true, HostNetwork: true},
		New:    newSubModule,
	})
}

// otaFeature is the OTA feature, or on channel at-tencent the module's
// OTA. Both fill Status, so `iotd ota status` and its --watch do not care
// which.
type otaFeature interface {
	Run(ctx context.Context) error
	Status() Status
}

// ownModule is the device's own OTA as the daemon runs it.
type ownModule struct{ otaFeature }

// Routes mounts GET /v1/ota, and POST /v1/ota/begin, /success and /fail
// for the program's reports (feature.Router).
func (m ownModule) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+localapi.PathOTA, func(w http.ResponseWriter, _ *http.Request) {
		feature.WriteJSON(w, http.StatusOK, statusToWire(m.otaFeature.Status()))
	})
	report := func(path string, do func(feature.OTAAPI, *http.Request, localapi.OTAReport) error) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			api := m.OTAAPI()
			if api == nil {
				feature.WriteError(w, http.StatusConflict, errModuleInstalls)
				return
			}
			var req localapi.OTAReport
			if !feature.DecodeBody(w, r, 4<<10, "ota report", &req) {
				return
			}
			if err := do(api, r, req); err != nil {
				code := http.StatusBadRequest
				if errors.Is(err, ErrBusy) {
					code = http.StatusConflict
				} else if errors.Is(err, bus.ErrNotServing) || errors.Is(err, context.DeadlineExceeded) {
					code = http.StatusServiceUnavailable
				}
				feature.WriteError(w, code, err)
				return
			}
			feature.WriteJSON(w, http.StatusOK, api.Status())
		})
	}
	report(localapi.PathOTABegin, func(api feature.OTAAPI, r *http.Request, req localapi.OTAReport) error {
		return api.Begin(r.Context(), req.Version)
	})
	report(localapi.PathOTASuccess, func(api feature.OTAAPI, r *http.Request, req localapi.OTAReport) error {
		return api.Succeed(r.Context(), req.Version)
	})
	report(localapi.PathOTAFail, func(api feature.OTAAPI, r *http.Request, req localapi.OTAReport) error {
		return api.Fail(r.Context(), req.Version, req.Code, req.Message)
	})
}

// errModuleInstalls: no program reports on channel at-tencent.
var errModuleInstalls = errors.New("ota: on channel at-tencent the module downloads firmware and iotd installs it with the hook; the program cannot report installs itself")

// OTAAPI offers the OTA to programs (feature.OTAProvider); nil on channel
// at-tencent.
func (m ownModule) OTAAPI() feature.OTAAPI {
	if o, ok := m.otaFeature.(*OTA); ok {
		return otaAPI{o}
	}
	return nil
}

// Status is the "ota" section of the daemon's status (feature.Reporter).
func (m ownModule) Status() any { return statusToWire(m.otaFeature.Status()) }

// statusToWire maps the feature's state to the wire's.
func statusToWire(st Status) localapi.OTAStatus { return localapi.OTAStatus(st) }

// build builds an OTA feature for device pid/dn (the daemon's own or a
// gateway's sub-device) keeping its state in stateDir: file paths
// resolved against the configuration's directory, downloads through
// http_driver with TLS roots from ca_file (empty: the system's). key names
// the section in errors.
func build(cfg Config, key, pid, dn, stateDir string, env *feature.Env) (*OTA, error) {
	cfg.CAFile = env.Path(cfg.CAFile)
	cfg.VersionFile = env.Path(cfg.VersionFile)
	cfg.Dir = env.Path(cfg.Dir)
	bad := func(field, msg string) error {
		return &core.ConfigError{Source: "config", Field: key + "." + field, Msg: msg}
	}
	// No ca_file: env.HTTP's default roots (the same as hub.ServiceTLS's),
	// which it loads at the first https request rather than now.
	var tlsCfg *tls.Config
	if cfg.CAFile != "" {
		var err error
		if tlsCfg, err = hub.ServiceTLS(cfg.CAFile); err != nil {
			return nil, bad("ca_file", err.Error())
		}
	}
	var tr http.RoundTripper
	if !cfg.Disabled {
		var err error
		if tr, err = env.HTTP(cfg.WithDefaults().HTTPDriver, tlsCfg); err != nil {
			return nil, bad("http_driver", err.Error())
		}
	}
	log := env.Log
	if pid != env.Device.ProductID || dn != env.Device.DeviceName {
		log = log.With("sub_device", pid+"/"+dn)
	}
	return New(cfg, env.Bus, pid, dn, Env{StateDir: stateDir, Transport: tr}, log)
}
