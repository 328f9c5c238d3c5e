package hubsim

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/iotd/iotd/internal/pki"
)

// Dynamic registration modes of a product (PROTOCOL.md §3.1).
const (
	// DynregOff refuses registration (code 1011). The default.
	DynregOff = "off"
	// DynregPrecreate registers only devices created beforehand (1020
	// for an unknown name).
	DynregPrecreate = "precreate"
	// DynregAutocreate also creates unknown devices.
	DynregAutocreate = "autocreate"
)

// Registration answer codes (PROTOCOL.md §3.1).
const (
	RegOK               = 0
	RegInternal         = 1000
	RegNoProduct        = 1004
	RegBadParam         = 1006
	RegBadSignature     = 1010
	RegNotAllowed       = 1011
	RegNeedPrecreated   = 1020
	RegAlreadyActivated = 1021
)

// dynregFile holds the registration settings under the state directory.
const dynregFile = "dynreg.json"

// DynregSettings are a product's registration settings.
type DynregSettings struct {
	// Mode is DynregOff, DynregPrecreate or DynregAutocreate.
	Mode string `json:"mode"`
	// AuthMode is the auth mode of auto-created devices: AuthKey (default)
	// or AuthCert.
	AuthMode string `json:"authMode,omitempty"`
}

// Validate checks the settings.
func (s DynregSettings) Validate() error {
	switch s.Mode {
	case DynregOff, DynregPrecreate, DynregAutocreate:
	default:
		return fmt.Errorf("%w: dynreg mode %q: use %s, %s or %s", ErrInvalid, s.Mode, DynregOff, DynregPrecreate, DynregAutocreate)
	}
	switch s.AuthMode {
	case "", AuthKey, AuthCert:
	default:
		return fmt.Errorf("%w: auth mode %q: use %s or %s", ErrInvalid, s.AuthMode, AuthKey, AuthCert)
	}
	return nil
}

// RegisterRequest is the body of POST /register/dev.
type RegisterRequest struct {
	DeviceName string `json:"deviceName"`
	Nonce      int64  `json:"nonce"`
	ProductID  string `json:"productId"`
	Timestamp  int64  `json:"timestamp"`
	Signature  string `json:"signature"`
}

// RegisterAnswer is the answer of POST /register/dev.
type RegisterAnswer struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Len     int    `json:"len,omitempty"`
	Payload string `json:"payload,omitempty"`
}

// ParseRegisterRequest decodes and checks a registration request body.
func ParseRegisterRequest(body []byte) (RegisterRequest, error) {
	var r RegisterRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return RegisterRequest{}, fmt.Errorf("%w: body is not the JSON of a registration request: %v", ErrInvalid, err)
	}
	if err := ValidateProductID(r.ProductID); err != nil {
		return RegisterRequest{}, err
	}
	if err := ValidateDeviceName(r.DeviceName); err != nil {
		return RegisterRequest{}, err
	}
	if r.Signature == "" || r.Timestamp <= 0 || r.Nonce == 0 {
		return RegisterRequest{}, fmt.Errorf("%w: signature, timestamp and nonce are required", ErrInvalid)
	}
	return r, nil
}

// RegisterSignature is the signature a request must carry: base64 of the
// lowercase hex HMAC-SHA1 of the sorted fields, keyed by the product
// secret text.
func RegisterSignature(productSecret string, r RegisterRequest) string {
	m := hmac.New(sha1.New, []byte(productSecret))
	fmt.Fprintf(m, "deviceName=%s&nonce=%d&productId=%s&timestamp=%d", r.DeviceName, r.Nonce, r.ProductID, r.Timestamp)
	return base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(m.Sum(nil))))
}

// registerService implements dynamic registration.
type registerService struct {
	h     *Hub
	path  string
	fault faultSwitch

	mu        sync.Mutex
	settings  map[string]DynregSettings
	activated map[string]bool // pid/dn registered once
}

type dynregState struct {
	Products  map[string]DynregSettings `json:"products"`
	Activated []string                  `json:"activated"`
}

func init() { registerBuiltin(func() Service { return &registerService{} }) }

func (*registerService) Name() string { return "register" }

func (s *registerService) Start(_ context.Context, h *Hub) error {
	s.h = h
	s.path = filepath.Join(h.cfg.StateDir, dynregFile)
	s.settings, s.activated = map[string]DynregSettings{}, map[string]bool{}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("hubsim: %w", err)
	default:
		var st dynregState
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("hubsim: %s is corrupt (%v); fix or remove it", s.path, err)
		}
		for k, v := range st.Products {
			s.settings[k] = v
		}
		for _, k := range st.Activated {
			s.activated[k] = true
		}
	}
	h.Admin().HandleFunc("POST /register/dev", s.handleRegister)
	h.Admin().HandleFunc("GET /products/{pid}/dynreg", s.handleGet)
	h.Admin().HandleFunc("PUT /products/{pid}/dynreg", s.handleSet)
	h.Admin().HandleFunc("PUT /faults/register", s.fault.handle)
	return nil
}

// Settings returns a product's registration settings.
func (s *registerService) Settings(pid string) DynregSettings {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.settings[pid]; ok {
		return v
	}
	return DynregSettings{Mode: DynregOff}
}

func (s *registerService) saveLocked() error {
	st := dynregState{Products: s.settings}
	for k := range s.activated {
		st.Activated = append(st.Activated, k)
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(s.path, data, 0o600)
}

func (s *registerService) handleGet(w http.ResponseWriter, r *http.Request) {
	pid := r.PathValue("pid")
	if _, err := s.h.store.Product(pid); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.Settings(pid))
}

func (s *registerService) handleSet(w http.ResponseWriter, r *http.Request) {
	pid := r.PathValue("pid")
	if _, err := s.h.store.Product(pid); err != nil {
		writeError(w, err)
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var v DynregSettings
	if err := decodeStrict(body, &v); err != nil {
		writeError(w, fmt.Errorf("%w: %v", ErrInvalid, err))
		return
	}
	if v.AuthMode == "" {
		v.AuthMode = AuthKey
	}
	if err := v.Validate(); err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	old, had := s.settings[pid]
	s.settings[pid] = v
	err := s.saveLocked()
	if err != nil {
		if had {
			s.settings[pid] = old
		} else {
			delete(s.settings, pid)
		}
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *registerService) handleRegister(w http.ResponseWriter, r *http.Request) {
	if s.fault.apply(w) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		s.answer(w, RegisterAnswer{Code: RegBadParam, Message: "request body too large or unreadable"})
		return
	}
	s.answer(w, s.register(body))
}

func (s *registerService) answer(w http.ResponseWriter, a RegisterAnswer) {
	if a.Code != RegOK {
		s.h.log.Warn("dynamic registration refused", "code", a.Code, "reason", a.Message)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(a)
}

func (s *registerService) register(body []byte) RegisterAnswer {
	req, err := ParseRegisterRequest(body)
	if err != nil {
		return RegisterAnswer{Code: RegBadParam, Message: err.Error()}
	}
	p, err := s.h.store.Product(req.ProductID)
	if err != nil {
		return RegisterAnswer{Code: RegNoProduct, Message: "product " + req.ProductID + " does not exist"}
	}
	if !hmac.Equal([]byte(req.Signature), []byte(RegisterSignature(p.ProductSecret, req))) {
		return RegisterAnswer{Code: RegBadSignature, Message: "Check signature failed"}
	}
	set := s.Settings(req.ProductID)
	if set.Mode == DynregOff {
		return RegisterAnswer{Code: RegNotAllowed, Message: "product " + req.ProductID + " does not allow dynamic registration"}
	}
	k := key(req.ProductID, req.DeviceName)
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.h.store.Device(req.ProductID, req.DeviceName)
	switch {
	case err == nil:
		if s.activated[k] || !s.h.tracker.status(d.ClientID()).LastConnect.IsZero() {
			return RegisterAnswer{Code: RegAlreadyActivated, Message: "device " + k + " is already registered"}
		}
	case set.Mode == DynregPrecreate:
		return RegisterAnswer{Code: RegNeedPrecreated, Message: "device " + k + " must be created before it registers"}
	default:
		mode := set.AuthMode
		if mode == "" {
			mode = AuthKey
		}
		if d, err = s.h.store.CreateDevice(req.ProductID, req.DeviceName, mode); err != nil {
			return RegisterAnswer{Code: RegBadParam, Message: err.Error()}
		}
	}
	plain := map[string]any{"encryptionType": 2, "psk": d.Secret}
	if d.AuthMode == AuthCert {
		plain = map[string]any{"encryptionType": 1, "clientCert": d.CertPEM, "clientKey": d.KeyPEM}
	}
	data, _ := json.Marshal(plain)
	payload, err := encryptRegistration(data, p.ProductSecret)
	if err != nil {
		return RegisterAnswer{Code: RegInternal, Message: err.Error()}
	}
	s.activated[k] = true
	if err := s.saveLocked(); err != nil {
		delete(s.activated, k)
		return RegisterAnswer{Code: RegInternal, Message: err.Error()}
	}
	s.h.log.Info("device registered dynamically", "device", k, "auth_mode", d.AuthMode)
	return RegisterAnswer{Code: RegOK, Message: "", Len: len(data), Payload: payload}
}

// encryptRegistration encrypts plain as the hub does: AES-128-CBC, key =
// the first 16 bytes of the product secret, IV = sixteen '0', zero padding.
func encryptRegistration(plain []byte, productSecret string) (string, error) {
	if len(productSecret) < aes.BlockSize {
		return "", fmt.Errorf("product secret shorter than %d bytes", aes.BlockSize)
	}
	block, err := aes.NewCipher([]byte(productSecret[:aes.BlockSize]))
	if err != nil {
		return "", err
	}
	n := (len(plain) + aes.BlockSize) / aes.BlockSize * aes.BlockSize
	buf := make([]byte, n)
	copy(buf, plain)
	cipher.NewCBCEncrypter(block, bytes.Repeat([]byte{'0'}, aes.BlockSize)).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// Fault modes of an HTTP endpoint, for tests and demos.
const (
	FaultNone    = "none"
	FaultDown    = "down"    // HTTP 503 with no usable body
	FaultGarbage = "garbage" // HTTP 200 with a body no client can use
)

// FaultRequest is the body of PUT /faults/{endpoint}.
type FaultRequest struct {
	Mode string `json:"mode"`
}

// faultSwitch makes an endpoint fail on demand.
type faultSwitch struct {
	mu   sync.Mutex
	mode string
}

func (f *faultSwitch) handle(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var v FaultRequest
	if err := decodeStrict(body, &v); err != nil {
		writeError(w, fmt.Errorf("%w: %v", ErrInvalid, err))
		return
	}
	switch v.Mode {
	case FaultNone, FaultDown, FaultGarbage:
	default:
		writeError(w, fmt.Errorf("%w: fault mode %q: use %s, %s or %s", ErrInvalid, v.Mode, FaultNone, FaultDown, FaultGarbage))
		return
	}
	f.mu.Lock()
	f.mode = v.Mode
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

// apply answers the request with the fault, if one is set.
func (f *faultSwitch) apply(w http.ResponseWriter) bool {
	f.mu.Lock()
	mode := f.mode
	f.mu.Unlock()
	switch mode {
	case FaultDown:
		http.Error(w, "service unavailable (hubsim fault switch)", http.StatusServiceUnavailable)
		return true
	case FaultGarbage:
		w.Header().Set("Content-Type", "application/json")
		// Valid-looking framing, unusable content: a payload that does not
		// decrypt, and no Retcode.
		_, _ = io.WriteString(w, `{"code":0,"message":"","len":7,"payload":"`+base64.StdEncoding.EncodeToString([]byte("not-aes"))+`","garbage":`+strconv.Quote("\x00\xff")+`}`)
		return true
	}
	return false
}
