package hubsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// MaxBulkDevices bounds one POST /devices/bulk.
const MaxBulkDevices = 100000

// BulkCreateRequest is the body of POST /devices/bulk: the devices named
// in DeviceNames, or Count devices named Prefix followed by 1 to Count
// (zero-padded to Count's width: dev-00001 ... dev-10000), or both.
type BulkCreateRequest struct {
	ProductID   string   `json:"productId"`
	DeviceNames []string `json:"deviceNames,omitempty"`
	Prefix      string   `json:"prefix,omitempty"`
	Count       int      `json:"count,omitempty"`
	// AuthMode is "KEY" (default) or "CERT", for every device.
	AuthMode string `json:"authMode,omitempty"`
	// Reuse returns a device that exists already, with its credentials,
	// instead of refusing the whole request (409).
	Reuse bool `json:"reuse,omitempty"`
}

// Names returns the device names the request asks for, in order.
func (r BulkCreateRequest) Names() []string {
	out := append([]string(nil), r.DeviceNames...)
	if r.Count > 0 {
		width := len(fmt.Sprint(r.Count))
		for i := 1; i <= r.Count; i++ {
			out = append(out, fmt.Sprintf("%s%0*d", r.Prefix, width, i))
		}
	}
	return out
}

// BulkCredentials is the answer of POST /devices/bulk: the devices with
// their credentials, in the request's order, and what they share.
type BulkCredentials struct {
	ProductSecret string   `json:"productSecret"`
	CAPEM         string   `json:"caPem"`
	Devices       []Device `json:"devices"`
	// Created counts the devices this request created; the others existed
	// (Reuse).
	Created int `json:"created"`
}

// DecodeBulkCreate decodes and validates a POST /devices/bulk body.
func DecodeBulkCreate(data []byte) (BulkCreateRequest, error) {
	var r BulkCreateRequest
	if err := decodeStrict(data, &r); err != nil {
		return r, err
	}
	if err := ValidateProductID(r.ProductID); err != nil {
		return r, err
	}
	if r.Count < 0 || len(r.DeviceNames)+r.Count > MaxBulkDevices {
		return r, fmt.Errorf("%w: count: %d devices; one request creates 1 to %d", ErrInvalid, len(r.DeviceNames)+r.Count, MaxBulkDevices)
	}
	if len(r.DeviceNames)+r.Count == 0 {
		return r, fmt.Errorf("%w: no devices: give deviceNames or prefix and count", ErrInvalid)
	}
	return r, nil
}

// CreateDevices adds the devices names of product pid (created when
// absent) with one write of the registry, which CreateDevice makes per
// device: creating thousands one by one rewrites the file thousands of
// times. Every name is checked before anything changes; a name that exists
// refuses the whole request (ErrExists) unless reuse, which returns the
// existing device. The devices come back in the order of names, with the
// number created.
func (s *Store) CreateDevices(pid string, names []string, authMode string, reuse bool) ([]Device, int, error) {
	if err := ValidateProductID(pid); err != nil {
		return nil, 0, err
	}
	seen := make(map[string]bool, len(names))
	for _, dn := range names {
		if err := ValidateDeviceName(dn); err != nil {
			return nil, 0, err
		}
		if seen[dn] {
			return nil, 0, fmt.Errorf("%w: device name %q given twice", ErrInvalid, dn)
		}
		seen[dn] = true
	}
	// Credentials are made outside the lock (a certificate takes a key
	// generation); those of devices that exist are dropped.
	fresh := make([]Device, len(names))
	for i, dn := range names {
		d, err := s.newDevice(pid, dn, authMode)
		if err != nil {
			return nil, 0, err
		}
		fresh[i] = d
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Device, len(names))
	var added []*Device
	for i := range fresh {
		d := &fresh[i]
		if old, ok := s.devices[key(pid, d.DeviceName)]; ok {
			if !reuse {
				return nil, 0, fmt.Errorf("%w: device %s/%s", ErrExists, pid, d.DeviceName)
			}
			out[i] = *old
			continue
		}
		if other, ok := s.byClient[d.ClientID()]; ok {
			return nil, 0, fmt.Errorf("%w: client id %s is already used by device %s/%s; choose another name",
				ErrExists, d.ClientID(), other.ProductID, other.DeviceName)
		}
		out[i] = *d
		added = append(added, d)
	}
	if len(added) == 0 {
		return out, 0, nil
	}
	_, hadProduct := s.products[pid]
	if !hadProduct {
		if _, err := s.newProductLocked(pid); err != nil {
			return nil, 0, err
		}
	}
	for _, d := range added {
		s.devices[key(pid, d.DeviceName)] = d
		s.byClient[d.ClientID()] = d
	}
	if err := s.saveLocked(); err != nil {
		for _, d := range added {
			delete(s.devices, key(pid, d.DeviceName))
			delete(s.byClient, d.ClientID())
		}
		if !hadProduct {
			delete(s.products, pid)
		}
		return nil, 0, err
	}
	return out, len(added), nil
}

// CreateDevices creates devices in bulk (POST /devices/bulk).
func (c *Client) CreateDevices(ctx context.Context, req BulkCreateRequest) (BulkCredentials, error) {
	var out BulkCredentials
	err := c.do(ctx, http.MethodPost, "/devices/bulk", mustJSON(req), &out)
	return out, err
}

// OTAPushAllResult is the answer of POST /products/{pid}/ota.
type OTAPushAllResult struct {
	Update OTAUpdate `json:"update"`
	// Pushed counts the devices update_firmware was sent to; Offline those
	// of the product that were not reachable (not pushed).
	Pushed  int `json:"pushed"`
	Offline int `json:"offline"`
}

// PushAll pushes an update to every reachable device of product pid; the
// offline ones are counted, not pushed.
func (s *OTAService) PushAll(pid string, req OTAPushRequest) (OTAPushAllResult, error) {
	if _, err := s.h.store.Product(pid); err != nil {
		return OTAPushAllResult{}, err
	}
	var res OTAPushAllResult
	for _, d := range s.h.store.Devices(pid) {
		u, err := s.Push(DeviceRef{ProductID: pid, DeviceName: d.DeviceName}, req)
		switch {
		case errors.Is(err, ErrOffline):
			res.Offline++
		case err != nil:
			return res, err
		default:
			res.Update = u
			res.Pushed++
		}
	}
	return res, nil
}

func (s *OTAService) handlePushAll(w http.ResponseWriter, r *http.Request) {
	req, ok := readPushRequest(w, r)
	if !ok {
		return
	}
	res, err := s.PushAll(r.PathValue("pid"), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// PushOTAAll pushes an update to every online device of a product (POST
// /products/{pid}/ota).
func (c *Client) PushOTAAll(ctx context.Context, pid string, req OTAPushRequest) (OTAPushAllResult, error) {
	var out OTAPushAllResult
	err := c.do(ctx, http.MethodPost, "/products/"+pid+"/ota", mustJSON(req), &out)
	return out, err
}

func (h *Hub) handleBulkCreate(w http.ResponseWriter, r *http.Request) {
	body, err := readBulkBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	req, err := DecodeBulkCreate(body)
	if err != nil {
		writeError(w, err)
		return
	}
	devs, created, err := h.store.CreateDevices(req.ProductID, req.Names(), req.AuthMode, req.Reuse)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := h.store.Product(req.ProductID)
	if err != nil {
		writeError(w, err)
		return
	}
	h.log.Info("devices created", "product", req.ProductID, "created", created, "existing", len(devs)-created)
	writeJSON(w, http.StatusCreated, BulkCredentials{ProductSecret: p.ProductSecret, CAPEM: string(h.ca.CertPEM), Devices: devs, Created: created})
}

// maxBulkBody bounds a POST /devices/bulk body: MaxBulkDevices names.
const maxBulkBody = 8 << 20

func readBulkBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBulkBody))
	if err != nil {
		return nil, fmt.Errorf("%w: request body: %v (limit %d bytes)", ErrInvalid, err, maxBulkBody)
	}
	return body, nil
}
