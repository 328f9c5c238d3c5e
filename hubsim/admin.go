package hubsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// maxAdminBody bounds admin request bodies (publish payloads included).
const maxAdminBody = 1 << 20

// CreateProductRequest is the body of POST /products.
type CreateProductRequest struct {
	ProductID string `json:"productId"`
}

// CreateDeviceRequest is the body of POST /devices.
type CreateDeviceRequest struct {
	ProductID  string `json:"productId"`
	DeviceName string `json:"deviceName"`
	// AuthMode is "KEY" (default) or "CERT".
	AuthMode string `json:"authMode,omitempty"`
}

// UpdateDeviceRequest is the body of PATCH /devices/{pid}/{dn}.
type UpdateDeviceRequest struct {
	Disabled *bool `json:"disabled"`
}

// DeviceView is a device without credentials plus its run-time status.
type DeviceView struct {
	Device
	Status Status `json:"status"`
}

// Credentials is everything needed to write a device_info.json: the device
// with its secret or certificate and key, the product secret and the CA.
type Credentials struct {
	Device        Device `json:"device"`
	ProductSecret string `json:"productSecret"`
	CAPEM         string `json:"caPem"`
}

// Info describes a running hub (GET /info).
type Info struct {
	TLSAddr  string `json:"tlsAddr"`
	TCPAddr  string `json:"tcpAddr"`
	AdminURL string `json:"adminUrl"`
	CAFile   string `json:"caFile"`
	CAPEM    string `json:"caPem"`
	// Limits are the publish limits in force.
	Limits Limits `json:"limits"`
}

// PublishResult is the answer of POST /devices/{pid}/{dn}/publish.
type PublishResult struct {
	Topic string `json:"topic"`
	QoS   byte   `json:"qos"`
	Bytes int    `json:"bytes"`
}

// decodeStrict decodes exactly one JSON object with no unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: request body: data after the JSON object", ErrInvalid)
	}
	return nil
}

// DecodeCreateProduct decodes and validates a POST /products body.
func DecodeCreateProduct(data []byte) (CreateProductRequest, error) {
	var r CreateProductRequest
	if err := decodeStrict(data, &r); err != nil {
		return r, err
	}
	return r, ValidateProductID(r.ProductID)
}

// DecodeCreateDevice decodes and validates a POST /devices body.
func DecodeCreateDevice(data []byte) (CreateDeviceRequest, error) {
	var r CreateDeviceRequest
	if err := decodeStrict(data, &r); err != nil {
		return r, err
	}
	if err := ValidateProductID(r.ProductID); err != nil {
		return r, err
	}
	if err := ValidateDeviceName(r.DeviceName); err != nil {
		return r, err
	}
	switch r.AuthMode {
	case "":
		r.AuthMode = AuthKey
	case AuthKey, AuthCert:
	default:
		return r, fmt.Errorf("%w: authMode %q: use %q or %q", ErrInvalid, r.AuthMode, AuthKey, AuthCert)
	}
	return r, nil
}

// DecodeUpdateDevice decodes a PATCH /devices/{pid}/{dn} body.
func DecodeUpdateDevice(data []byte) (UpdateDeviceRequest, error) {
	var r UpdateDeviceRequest
	if err := decodeStrict(data, &r); err != nil {
		return r, err
	}
	if r.Disabled == nil {
		return r, fmt.Errorf("%w: request body: set \"disabled\" to true or false", ErrInvalid)
	}
	return r, nil
}

func (h *Hub) mountAdmin() {
	m := h.admin
	m.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, Info{TLSAddr: h.TLSAddr(), TCPAddr: h.TCPAddr(), AdminURL: h.AdminURL(),
			CAFile: h.CAFile(), CAPEM: string(h.ca.CertPEM), Limits: h.Limits()})
	})
	m.HandleFunc("GET /products", func(w http.ResponseWriter, r *http.Request) {
		ps := h.store.Products()
		for i := range ps {
			ps[i].ProductSecret = ""
		}
		writeJSON(w, http.StatusOK, ps)
	})
	m.HandleFunc("POST /products", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		req, err := DecodeCreateProduct(body)
		if err != nil {
			writeError(w, err)
			return
		}
		p, err := h.store.CreateProduct(req.ProductID)
		if err != nil {
			writeError(w, err)
			return
		}
		h.log.Info("product created", "product", p.ProductID)
		p.ProductSecret = ""
		writeJSON(w, http.StatusCreated, p)
	})
	m.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		out := []DeviceView{}
		for _, d := range h.store.Devices(r.URL.Query().Get("product")) {
			out = append(out, DeviceView{Device: d.Public(), Status: h.tracker.status(d.ClientID())})
		}
		writeJSON(w, http.StatusOK, out)
	})
	m.HandleFunc("POST /devices", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		req, err := DecodeCreateDevice(body)
		if err != nil {
			writeError(w, err)
			return
		}
		d, err := h.store.CreateDevice(req.ProductID, req.DeviceName, req.AuthMode)
		if err != nil {
			writeError(w, err)
			return
		}
		h.log.Info("device created", "device", d.ProductID+"/"+d.DeviceName, "auth", d.AuthMode)
		h.writeCredentials(w, http.StatusCreated, d)
	})
	m.HandleFunc("POST /devices/bulk", h.handleBulkCreate)
	m.HandleFunc("GET /devices/{pid}/{dn}", func(w http.ResponseWriter, r *http.Request) {
		d, err := h.store.Device(r.PathValue("pid"), r.PathValue("dn"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, DeviceView{Device: d.Public(), Status: h.tracker.status(d.ClientID())})
	})
	m.HandleFunc("PATCH /devices/{pid}/{dn}", func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		req, err := DecodeUpdateDevice(body)
		if err != nil {
			writeError(w, err)
			return
		}
		pid, dn := r.PathValue("pid"), r.PathValue("dn")
		if err := h.store.SetDisabled(pid, dn, *req.Disabled); err != nil {
			writeError(w, err)
			return
		}
		d, _ := h.store.Device(pid, dn)
		h.log.Info("device updated", "device", pid+"/"+dn, "disabled", d.Disabled)
		writeJSON(w, http.StatusOK, DeviceView{Device: d.Public(), Status: h.tracker.status(d.ClientID())})
	})
	m.HandleFunc("GET /devices/{pid}/{dn}/credentials", func(w http.ResponseWriter, r *http.Request) {
		d, err := h.store.Device(r.PathValue("pid"), r.PathValue("dn"))
		if err != nil {
			writeError(w, err)
			return
		}
		h.writeCredentials(w, http.StatusOK, d)
	})
	m.HandleFunc("GET /devices/{pid}/{dn}/messages", func(w http.ResponseWriter, r *http.Request) {
		d, err := h.store.Device(r.PathValue("pid"), r.PathValue("dn"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, h.tracker.messages(d.ClientID()))
	})
	m.HandleFunc("POST /devices/{pid}/{dn}/publish", h.handlePublish)
	m.HandleFunc("GET /refusals", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, h.tracker.recentRefusals())
	})
}

// handlePublish sends the request body to a device: topic defaults to
// {pid}/{dn}/control, a topic without "/" is taken relative to
// {pid}/{dn}/, and the topic must be one the device may subscribe to.
func (h *Hub) handlePublish(w http.ResponseWriter, r *http.Request) {
	d, err := h.store.Device(r.PathValue("pid"), r.PathValue("dn"))
	if err != nil {
		writeError(w, err)
		return
	}
	ref := DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}
	q := r.URL.Query()
	topic := DeviceTopic(ref, q.Get("topic"))
	qos := 0
	if s := q.Get("qos"); s != "" {
		if qos, err = strconv.Atoi(s); err != nil || qos < 0 || qos > 1 {
			writeError(w, fmt.Errorf("%w: qos %q: use 0 or 1", ErrInvalid, s))
			return
		}
	}
	if !h.allowed(ref, topic, false) {
		writeError(w, fmt.Errorf("%w: topic %q is outside device %s's topics ({pid}/{dn}/... or $x/y/{pid}/{dn})",
			ErrInvalid, topic, ref))
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if err := h.Publish(topic, body, byte(qos)); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, PublishResult{Topic: topic, QoS: byte(qos), Bytes: len(body)})
}

// DeviceTopic expands a topic given on the command line or in the admin
// API: "" is {pid}/{dn}/control, a single level ("data") is
// {pid}/{dn}/data, anything else is used as is.
func DeviceTopic(dev DeviceRef, topic string) string {
	switch {
	case topic == "":
		return dev.ProductID + "/" + dev.DeviceName + "/control"
	case !bytes.ContainsRune([]byte(topic), '/'):
		return dev.ProductID + "/" + dev.DeviceName + "/" + topic
	default:
		return topic
	}
}

func (h *Hub) writeCredentials(w http.ResponseWriter, status int, d Device) {
	p, err := h.store.Product(d.ProductID)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, status, Credentials{Device: d, ProductSecret: p.ProductSecret, CAPEM: string(h.ca.CertPEM)})
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		writeError(w, fmt.Errorf("%w: request body: %v (limit %d bytes)", ErrInvalid, err, maxAdminBody))
		return nil, false
	}
	return body, true
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrExists):
		status = http.StatusConflict
	}
	writeJSON(w, status, errorBody{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
