package hubsim

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// OTA admin API (firmware is served over HTTPS by a listener of its own,
// see ota_server.go):
//
//	POST /ota/firmware?version=V[&name=N]   raw file body → OTAFirmware
//	GET  /ota/info                          → OTAInfo (HTTPS address, bytes served, requests)
//	PUT  /ota/faults                        ← OTAFaults → OTAFaults
//	POST /devices/{pid}/{dn}/ota            ← OTAPushRequest → the update_firmware sent
//	GET  /devices/{pid}/{dn}/ota            → OTADeviceStatus

// ErrOffline is wrapped by errors for a push to a device that is not
// connected (HTTP 409 from the admin API).
var ErrOffline = errors.New("hubsim: device offline")

// MaxFirmwareSize bounds an uploaded firmware file.
const MaxFirmwareSize = 512 << 20

// maxOTAReports is how many reports per device are kept.
const maxOTAReports = 200

// OTAFirmware is an uploaded firmware file.
type OTAFirmware struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Size    int64  `json:"size"`
	MD5     string `json:"md5"`
	// URL is where the hub's HTTPS server serves it.
	URL string `json:"url"`
}

// OTAPushRequest is the body of POST /devices/{pid}/{dn}/ota. Firmware
// names an uploaded file; when empty, the last one uploaded with Version
// is used. MD5, URL and FileSize override what is sent (fault injection).
type OTAPushRequest struct {
	Firmware string `json:"firmware,omitempty"`
	Version  string `json:"version,omitempty"`
	MD5      string `json:"md5,omitempty"`
	URL      string `json:"url,omitempty"`
	FileSize int64  `json:"file_size,omitempty"`
}

// OTAUpdate is an update_firmware message as the hub sends it.
type OTAUpdate struct {
	Type     string `json:"type"`
	Version  string `json:"version"`
	URL      string `json:"url"`
	MD5      string `json:"md5sum"`
	FileSize int64  `json:"file_size"`
}

// OTAReport is one message a device sent on $ota/report.
type OTAReport struct {
	Received   time.Time `json:"received"`
	Type       string    `json:"type"`
	Version    string    `json:"version,omitempty"`
	State      string    `json:"state,omitempty"`
	Percent    string    `json:"percent,omitempty"`
	ResultCode string    `json:"result_code,omitempty"`
	ResultMsg  string    `json:"result_msg,omitempty"`
}

// OTADeviceStatus is what the hub knows of a device's firmware.
type OTADeviceStatus struct {
	Device DeviceRef `json:"device"`
	// Version is the last version the device reported.
	Version string `json:"version,omitempty"`
	// Target is the version last pushed to it.
	Target     string      `json:"target,omitempty"`
	State      string      `json:"state,omitempty"`
	Percent    string      `json:"percent,omitempty"`
	ResultCode string      `json:"result_code,omitempty"`
	ResultMsg  string      `json:"result_msg,omitempty"`
	Reports    []OTAReport `json:"reports"`
}

// OTAService is the hub's OTA service: firmware store, HTTPS file server,
// pushes, and the devices' reports. Get a hub's with [Hub.OTA].
type OTAService struct {
	h   *Hub
	srv *otaServer

	mu       sync.Mutex
	firmware map[string]*firmwareFile // by name
	byVer    map[string]string        // version → last uploaded name
	devices  map[string]*OTADeviceStatus
	// pending is the update_firmware last pushed per device, until the
	// device reports that version or a done/fail (for CoAP devices, which
	// get it as the answer to report_version).
	pending map[string]OTAUpdate
}

type firmwareFile struct {
	OTAFirmware
	data     []byte
	modified time.Time
}

func init() {
	registerBuiltin(func() Service {
		return &OTAService{firmware: map[string]*firmwareFile{}, byVer: map[string]string{}, devices: map[string]*OTADeviceStatus{}, pending: map[string]OTAUpdate{}}
	})
}

// OTA returns the hub's OTA service (nil after Close).
func (h *Hub) OTA() *OTAService { return service[*OTAService](h) }

func (*OTAService) Name() string { return "ota" }

func (s *OTAService) Start(ctx context.Context, h *Hub) error {
	s.h = h
	srv, err := startOTAServer(h, s.file)
	if err != nil {
		return err
	}
	s.srv = srv
	h.log.Info("OTA firmware server", "url", srv.url(""), "ca", h.CAFile())
	h.Go(func(ctx context.Context) {
		<-ctx.Done()
		srv.close()
	})
	h.Handle("ota", "$ota/report/+/+", s.onReport)
	a := h.Admin()
	a.HandleFunc("POST /ota/firmware", s.handleUpload)
	a.HandleFunc("GET /ota/info", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Info()) })
	a.HandleFunc("PUT /ota/faults", s.handleFaults)
	a.HandleFunc("POST /devices/{pid}/{dn}/ota", s.handlePush)
	a.HandleFunc("POST /products/{pid}/ota", s.handlePushAll)
	a.HandleFunc("GET /devices/{pid}/{dn}/ota", s.handleStatus)
	return nil
}

// Upload stores a firmware file under name (default
// "firmware-{version}.bin") and returns where it is served.
func (s *OTAService) Upload(name, version string, data []byte) (OTAFirmware, error) {
	if version == "" || len(version) > 32 || strings.ContainsAny(version, " /\\\"") {
		return OTAFirmware{}, fmt.Errorf("%w: version %q: 1 to 32 characters, no spaces, slashes or quotes", ErrInvalid, version)
	}
	if name == "" {
		name = "firmware-" + version + ".bin"
	}
	if strings.ContainsAny(name, "/\\?#% ") || name == "." || name == ".." {
		return OTAFirmware{}, fmt.Errorf("%w: firmware name %q: no slashes, spaces or URL characters", ErrInvalid, name)
	}
	if len(data) == 0 {
		return OTAFirmware{}, fmt.Errorf("%w: firmware file is empty", ErrInvalid)
	}
	sum := md5.Sum(data)
	f := &firmwareFile{OTAFirmware: OTAFirmware{Name: name, Version: version, Size: int64(len(data)),
		MD5: hex.EncodeToString(sum[:]), URL: s.srv.url(name)}, data: data, modified: s.h.now()}
	s.mu.Lock()
	s.firmware[name] = f
	s.byVer[version] = name
	s.mu.Unlock()
	return f.OTAFirmware, nil
}

func (s *OTAService) file(name string) (*firmwareFile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.firmware[name]
	return f, ok
}

// Push sends update_firmware for an uploaded file to device dev, which must
// be connected, and returns the message sent.
func (s *OTAService) Push(dev DeviceRef, req OTAPushRequest) (OTAUpdate, error) {
	if _, err := s.h.store.Device(dev.ProductID, dev.DeviceName); err != nil {
		return OTAUpdate{}, err
	}
	s.mu.Lock()
	name := req.Firmware
	if name == "" {
		name = s.byVer[req.Version]
	}
	f, ok := s.firmware[name]
	s.mu.Unlock()
	if !ok {
		return OTAUpdate{}, fmt.Errorf("%w: no firmware %q (version %q) uploaded; upload it first (POST /ota/firmware?version=V)", ErrNotFound, req.Firmware, req.Version)
	}
	if !s.h.Reachable(dev) {
		return OTAUpdate{}, fmt.Errorf("%w: device %s is offline (neither connected nor online through a gateway); an OTA push needs it reachable", ErrOffline, dev)
	}
	u := OTAUpdate{Type: "update_firmware", Version: f.Version, URL: f.URL, MD5: f.MD5, FileSize: f.Size}
	if req.MD5 != "" {
		u.MD5 = req.MD5
	}
	if req.URL != "" {
		u.URL = req.URL
	}
	if req.FileSize != 0 {
		u.FileSize = req.FileSize
	}
	payload, _ := json.Marshal(u)
	// Recorded before publishing: the device may answer at once.
	s.mu.Lock()
	st := s.deviceLocked(dev)
	st.Target, st.State, st.Percent, st.ResultCode, st.ResultMsg = u.Version, "pushed", "", "", ""
	s.pending[dev.String()] = u
	s.mu.Unlock()
	if err := s.h.Publish("$ota/update/"+dev.ProductID+"/"+dev.DeviceName, payload, 1); err != nil {
		return OTAUpdate{}, err
	}
	return u, nil
}

// PendingUpdate returns the update_firmware last pushed to dev if the
// device has since reported neither that version nor a done or fail
// progress; the CoAP endpoint answers a report_version with it.
func (s *OTAService) PendingUpdate(dev DeviceRef) (OTAUpdate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.pending[dev.String()]
	return u, ok
}

// DeviceStatus returns what the device reported.
func (s *OTAService) DeviceStatus(dev DeviceRef) OTADeviceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := *s.deviceLocked(dev)
	st.Reports = append([]OTAReport(nil), st.Reports...)
	return st
}

func (s *OTAService) deviceLocked(dev DeviceRef) *OTADeviceStatus {
	st, ok := s.devices[dev.String()]
	if !ok {
		st = &OTADeviceStatus{Device: dev, Reports: []OTAReport{}}
		s.devices[dev.String()] = st
	}
	return st
}

func (s *OTAService) onReport(m Message) {
	// The device is the one the topic names: the ACL, checked before
	// handlers run, let the publisher use it (itself, or a gateway for an
	// online sub-device).
	dev, err := otaTopicDevice(m.Topic)
	if err != nil {
		s.h.log.Warn("ota report ignored", "device", m.Device.String(), "topic", m.Topic, "reason", "not a report topic")
		return
	}
	r, err := ParseOTAReport(m.Payload)
	if err != nil {
		s.h.log.Warn("ota report ignored", "device", dev.String(), "reason", err)
		return
	}
	r.Received = m.Received
	s.mu.Lock()
	st := s.deviceLocked(dev)
	st.Reports = append(st.Reports, r)
	if len(st.Reports) > maxOTAReports {
		st.Reports = st.Reports[len(st.Reports)-maxOTAReports:]
	}
	switch r.Type {
	case "report_version":
		st.Version = r.Version
		if s.pending[dev.String()].Version == r.Version {
			delete(s.pending, dev.String())
		}
	case "report_progress":
		if r.State == "done" || r.State == "fail" {
			delete(s.pending, dev.String())
		}
		st.State, st.ResultCode, st.ResultMsg = r.State, r.ResultCode, r.ResultMsg
		if r.Percent != "" {
			st.Percent = r.Percent
		}
	}
	s.mu.Unlock()
	if r.Type == "report_version" {
		rsp, _ := json.Marshal(map[string]any{"result_code": 0, "result_msg": "success", "type": "report_version_rsp", "version": r.Version})
		s.h.Go(func(context.Context) {
			_ = s.h.Publish("$ota/update/"+dev.ProductID+"/"+dev.DeviceName, rsp, 1)
		})
	}
}

func otaTopicDevice(topic string) (DeviceRef, error) {
	p := strings.Split(topic, "/")
	if len(p) != 4 || p[0] != "$ota" || p[1] != "report" || p[2] == "" || p[3] == "" {
		return DeviceRef{}, fmt.Errorf("%w: ota topic %q", ErrInvalid, topic)
	}
	return DeviceRef{ProductID: p[2], DeviceName: p[3]}, nil
}

// ParseOTAReport decodes a device's report_version or report_progress.
func ParseOTAReport(payload []byte) (OTAReport, error) {
	var raw struct {
		Type   string `json:"type"`
		Report struct {
			Version  string `json:"version"`
			Progress *struct {
				State      string `json:"state"`
				Percent    string `json:"percent"`
				ResultCode string `json:"result_code"`
				ResultMsg  string `json:"result_msg"`
			} `json:"progress"`
		} `json:"report"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return OTAReport{}, fmt.Errorf("%w: ota report: %v", ErrInvalid, err)
	}
	r := OTAReport{Type: raw.Type, Version: raw.Report.Version}
	switch raw.Type {
	case "report_version":
	case "report_progress":
		if raw.Report.Progress == nil || raw.Report.Progress.State == "" {
			return OTAReport{}, fmt.Errorf("%w: report_progress without report.progress.state", ErrInvalid)
		}
		p := raw.Report.Progress
		r.State, r.Percent, r.ResultCode, r.ResultMsg = p.State, p.Percent, p.ResultCode, p.ResultMsg
	default:
		return OTAReport{}, fmt.Errorf("%w: ota report type %q", ErrInvalid, raw.Type)
	}
	if r.Version == "" {
		return OTAReport{}, fmt.Errorf("%w: ota report without report.version", ErrInvalid)
	}
	return r, nil
}

func (s *OTAService) handleUpload(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxFirmwareSize))
	if err != nil {
		writeError(w, fmt.Errorf("%w: firmware body: %v (limit %d bytes)", ErrInvalid, err, MaxFirmwareSize))
		return
	}
	q := r.URL.Query()
	f, err := s.Upload(q.Get("name"), q.Get("version"), data)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// readPushRequest reads the body of an OTA push; false: it answered an
// error.
func readPushRequest(w http.ResponseWriter, r *http.Request) (OTAPushRequest, bool) {
	var req OTAPushRequest
	body, ok := readBody(w, r)
	if !ok {
		return req, false
	}
	if err := decodeStrict(body, &req); err != nil {
		writeError(w, err)
		return req, false
	}
	return req, true
}

func (s *OTAService) handlePush(w http.ResponseWriter, r *http.Request) {
	req, ok := readPushRequest(w, r)
	if !ok {
		return
	}
	u, err := s.Push(DeviceRef{ProductID: r.PathValue("pid"), DeviceName: r.PathValue("dn")}, req)
	if errors.Is(err, ErrOffline) {
		writeJSON(w, http.StatusConflict, errorBody{Error: err.Error()})
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *OTAService) handleStatus(w http.ResponseWriter, r *http.Request) {
	d, err := s.h.store.Device(r.PathValue("pid"), r.PathValue("dn"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.DeviceStatus(DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}))
}

func (s *OTAService) handleFaults(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var f OTAFaults
	if err := decodeStrict(body, &f); err != nil {
		writeError(w, err)
		return
	}
	if err := s.SetFaults(f); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}
