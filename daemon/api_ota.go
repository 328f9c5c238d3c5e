package daemon

import (
	"net/http"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/features/ota"
	"github.com/iotd/iotd/localapi"
)

// defaultStateDir is used when the configuration sets no state_dir: a
// directory next to the configuration file.
const defaultStateDir = "iotd-state"

// newOTA builds the OTA feature: file paths resolved against the
// configuration's directory, downloads through features.ota.http_driver
// with TLS roots from features.ota.ca_file (empty: the system's). On
// channel at-tencent the module downloads instead (moduleOTA).
func (d *Daemon) newOTA() (otaFeature, error) {
	if d.module != nil && !d.cfg.Features.OTA.Disabled {
		return d.newModuleOTA()
	}
	return d.newOTAFor(d.cfg.Features.OTA, "features.ota", d.device.ProductID, d.device.DeviceName, d.cfg.StateDirPath())
}

// newOTAFor builds an OTA feature for device pid/dn (the daemon's own or a
// gateway's sub-device) keeping its state in stateDir.
func (d *Daemon) newOTAFor(cfg ota.Config, key, pid, dn, stateDir string) (*ota.OTA, error) {
	cfg.CAFile = d.cfg.path(cfg.CAFile)
	cfg.VersionFile = d.cfg.path(cfg.VersionFile)
	cfg.Dir = d.cfg.path(cfg.Dir)
	bad := func(field, msg string) error {
		return &core.ConfigError{Source: "config", Field: key + "." + field, Msg: msg}
	}
	tlsCfg, err := loadRoots(cfg.CAFile)
	if err != nil {
		return nil, bad("ca_file", err.Error())
	}
	var tr http.RoundTripper
	if !cfg.Disabled {
		driverName := cfg.WithDefaults().HTTPDriver
		dc, err := d.cfg.driverJSON(driverName)
		if err != nil {
			return nil, err
		}
		t, err := d.reg.HTTPTransport(driverName, dc, tlsCfg)
		if err != nil {
			return nil, bad("http_driver", err.Error())
		}
		tr = t
	}
	log := d.log
	if pid != d.device.ProductID || dn != d.device.DeviceName {
		log = log.With("sub_device", pid+"/"+dn)
	}
	return ota.New(cfg, d.bus, pid, dn, ota.Env{StateDir: stateDir, Transport: tr}, log)
}

func (s *apiServer) otaStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, otaStatusToWire(s.d.ota.Status()))
}

// otaStatusToWire maps the OTA feature's state to the wire's.
func otaStatusToWire(st ota.Status) localapi.OTAStatus {
	return localapi.OTAStatus(st)
}
