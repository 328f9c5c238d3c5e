package hubsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Log upload (PROTOCOL.md §3.2) and the log level service (§2.6).
const (
	// LogHeaderLen is the length of the signed header of a log upload.
	LogHeaderLen = 112
	// LogDelimiter ends every uploaded log line.
	LogDelimiter = "\n\f"
	// MaxLogBody bounds one upload.
	MaxLogBody = 64 << 10
	// maxLogLines is how many lines the hub keeps per device.
	maxLogLines = 2000
	// DefaultLogLevel is the upload level a device gets until one is set:
	// 3 = info (0 off/errors on communication trouble, 1 error, 2 warn,
	// 3 info, 4 debug).
	DefaultLogLevel = 3
)

// LogUpload is a parsed log upload body.
type LogUpload struct {
	// Signature is the 40 hex characters of the header.
	Signature string
	// Mode is 'P' (key device) or 'C' (cert device).
	Mode       byte
	ProductID  string
	DeviceName string
	// Timestamp is the header's epoch seconds (0 if the device had no time).
	Timestamp int64
	Lines     []string
}

// ParseLogBody parses an upload: the 112-byte header (signature, mode,
// "###", product id and device name '#'-padded to 10 and 48 bytes, 10
// digits of epoch seconds) and the lines delimited by "\n\f". It does not
// check the signature ([VerifyLogBody]).
func ParseLogBody(body []byte) (LogUpload, error) {
	if len(body) < LogHeaderLen {
		return LogUpload{}, fmt.Errorf("%w: log upload of %d bytes is shorter than the %d-byte header", ErrInvalid, len(body), LogHeaderLen)
	}
	var u LogUpload
	sig := string(body[:40])
	if _, err := hex.DecodeString(sig); err != nil || strings.ToLower(sig) != sig {
		return LogUpload{}, fmt.Errorf("%w: log header: bytes 0-39 are not a lowercase hex signature", ErrInvalid)
	}
	u.Signature = sig
	u.Mode = body[40]
	if u.Mode != 'P' && u.Mode != 'C' {
		return LogUpload{}, fmt.Errorf("%w: log header: byte 40 is %q, expected 'P' or 'C'", ErrInvalid, u.Mode)
	}
	if string(body[41:44]) != "###" {
		return LogUpload{}, fmt.Errorf("%w: log header: bytes 41-43 must be ###", ErrInvalid)
	}
	u.ProductID = strings.TrimRight(string(body[44:54]), "#")
	u.DeviceName = strings.TrimRight(string(body[54:102]), "#")
	if err := ValidateProductID(u.ProductID); err != nil {
		return LogUpload{}, fmt.Errorf("log header: %w", err)
	}
	if err := ValidateDeviceName(u.DeviceName); err != nil {
		return LogUpload{}, fmt.Errorf("log header: %w", err)
	}
	ts := string(body[102:112])
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n < 0 || strings.ContainsAny(ts, "+-") {
		return LogUpload{}, fmt.Errorf("%w: log header: bytes 102-111 are %q, expected 10 digits of epoch seconds", ErrInvalid, ts)
	}
	u.Timestamp = n
	for _, l := range strings.Split(string(body[LogHeaderLen:]), LogDelimiter) {
		if l != "" {
			u.Lines = append(u.Lines, l)
		}
	}
	return u, nil
}

// LogSignKey is the key a device signs its uploads with: a key device's
// secret text cut to 24 characters; for a cert device the first 24
// characters of the first base64 line of its certificate PEM.
func LogSignKey(d Device) string {
	if d.AuthMode == AuthCert {
		for _, l := range strings.Split(d.CertPEM, "\n") {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "-----") {
				return l[:min(24, len(l))]
			}
		}
		return ""
	}
	return d.Secret[:min(24, len(d.Secret))]
}

// VerifyLogBody checks the header signature: lowercase hex HMAC-SHA1 over
// bytes 40 to the end, keyed by key.
func VerifyLogBody(body []byte, key string) bool {
	if len(body) < LogHeaderLen {
		return false
	}
	m := hmac.New(sha1.New, []byte(key))
	m.Write(body[40:])
	return hmac.Equal(body[:40], []byte(hex.EncodeToString(m.Sum(nil))))
}

// LogLine is one uploaded line as the hub stored it.
type LogLine struct {
	Received time.Time `json:"received"`
	// Timestamp is the upload header's time (device clock).
	Timestamp int64  `json:"timestamp"`
	Line      string `json:"line"`
}

// LogLevelRequest is the body of PUT /devices/{pid}/{dn}/loglevel.
type LogLevelRequest struct {
	Level int `json:"level"`
}

// logService stores uploaded lines and answers log level requests.
type logService struct {
	h     *Hub
	fault faultSwitch

	mu     sync.Mutex
	lines  map[string][]LogLine // by pid/dn
	levels map[string]int
}

func init() {
	registerBuiltin(func() Service { return &logService{lines: map[string][]LogLine{}, levels: map[string]int{}} })
}

func (*logService) Name() string { return "log" }

func (s *logService) Start(_ context.Context, h *Hub) error {
	s.h = h
	h.Handle("log", "$log/operation/+/+", s.onOperation)
	h.Admin().HandleFunc("POST /cgi-bin/report-log", s.handleUpload)
	h.Admin().HandleFunc("GET /devices/{pid}/{dn}/logs", s.handleLogs)
	h.Admin().HandleFunc("GET /devices/{pid}/{dn}/loglevel", s.handleGetLevel)
	h.Admin().HandleFunc("PUT /devices/{pid}/{dn}/loglevel", s.handleSetLevel)
	h.Admin().HandleFunc("PUT /faults/log", s.fault.handle)
	return nil
}

// Logs returns the lines device pid/dn uploaded, oldest first.
func (s *logService) Logs(pid, dn string) []LogLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LogLine{}, s.lines[key(pid, dn)]...)
}

func (s *logService) level(k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.levels[k]; ok {
		return v
	}
	return DefaultLogLevel
}

func (s *logService) onOperation(m Message) {
	var req struct {
		Type        string `json:"type"`
		ClientToken string `json:"clientToken"`
	}
	if err := json.Unmarshal(m.Payload, &req); err != nil || req.Type != "get_log_level" {
		s.h.log.Warn("log operation ignored", "device", m.Device.String(), "reason", "expected {\"type\":\"get_log_level\",...}")
		return
	}
	s.push(m.Device, req.ClientToken)
}

func (s *logService) push(dev DeviceRef, token string) {
	reply, _ := json.Marshal(map[string]any{"type": "get_log_level", "result": 0,
		"clientToken": token, "log_level": s.level(dev.String())})
	if err := s.h.Publish("$log/operation/result/"+dev.ProductID+"/"+dev.DeviceName, reply, 0); err != nil {
		s.h.log.Warn("log level reply", "device", dev.String(), "error", err)
	}
}

type logAnswer struct {
	Retcode int    `json:"Retcode"`
	Msg     string `json:"Msg"`
}

func (s *logService) handleUpload(w http.ResponseWriter, r *http.Request) {
	if s.fault.apply(w) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxLogBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, logAnswer{Retcode: -1, Msg: fmt.Sprintf("body over %d bytes", MaxLogBody)})
		return
	}
	u, err := ParseLogBody(body)
	if err != nil {
		s.h.log.Warn("log upload refused", "reason", err)
		writeJSON(w, http.StatusBadRequest, logAnswer{Retcode: -1, Msg: err.Error()})
		return
	}
	d, err := s.h.store.Device(u.ProductID, u.DeviceName)
	if err != nil {
		writeJSON(w, http.StatusOK, logAnswer{Retcode: -2, Msg: "unknown device " + key(u.ProductID, u.DeviceName)})
		return
	}
	want := byte('P')
	if d.AuthMode == AuthCert {
		want = 'C'
	}
	if u.Mode != want || !VerifyLogBody(body, LogSignKey(d)) {
		s.h.log.Warn("log upload refused", "device", key(d.ProductID, d.DeviceName), "reason", "signature check failed")
		writeJSON(w, http.StatusOK, logAnswer{Retcode: -3, Msg: "signature check failed"})
		return
	}
	now := s.h.now()
	k := key(d.ProductID, d.DeviceName)
	s.mu.Lock()
	ls := s.lines[k]
	for _, l := range u.Lines {
		ls = append(ls, LogLine{Received: now, Timestamp: u.Timestamp, Line: l})
	}
	if len(ls) > maxLogLines {
		ls = append([]LogLine(nil), ls[len(ls)-maxLogLines:]...)
	}
	s.lines[k] = ls
	s.mu.Unlock()
	s.h.log.Debug("log upload", "device", k, "lines", len(u.Lines), "bytes", len(body))
	writeJSON(w, http.StatusOK, logAnswer{Retcode: 0, Msg: "ok"})
}

func (s *logService) device(w http.ResponseWriter, r *http.Request) (Device, bool) {
	d, err := s.h.store.Device(r.PathValue("pid"), r.PathValue("dn"))
	if err != nil {
		writeError(w, err)
		return Device{}, false
	}
	return d, true
}

func (s *logService) handleLogs(w http.ResponseWriter, r *http.Request) {
	if d, ok := s.device(w, r); ok {
		writeJSON(w, http.StatusOK, s.Logs(d.ProductID, d.DeviceName))
	}
}

func (s *logService) handleGetLevel(w http.ResponseWriter, r *http.Request) {
	if d, ok := s.device(w, r); ok {
		writeJSON(w, http.StatusOK, LogLevelRequest{Level: s.level(key(d.ProductID, d.DeviceName))})
	}
}

func (s *logService) handleSetLevel(w http.ResponseWriter, r *http.Request) {
	d, ok := s.device(w, r)
	if !ok {
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var v LogLevelRequest
	if err := decodeStrict(bytes.TrimSpace(body), &v); err != nil {
		writeError(w, fmt.Errorf("%w: %v", ErrInvalid, err))
		return
	}
	if v.Level < 0 || v.Level > 4 {
		writeError(w, fmt.Errorf("%w: log level %d: use 0 (errors, only on communication trouble) to 4 (debug)", ErrInvalid, v.Level))
		return
	}
	dev := DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}
	s.mu.Lock()
	s.levels[dev.String()] = v.Level
	s.mu.Unlock()
	s.push(dev, "")
	writeJSON(w, http.StatusOK, v)
}
