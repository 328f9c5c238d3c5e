package localapi

import (
	"fmt"
	"strings"
	"time"
)

// Sub-device states, the values of [SubDevice].State.
const (
	SubDeviceOnline  = "online"
	SubDeviceBound   = "bound"
	SubDeviceOffline = "offline"
)

// DeviceRef names a sub-device.
type DeviceRef struct {
	ProductID  string `json:"product_id"`
	DeviceName string `json:"device_name"`
}

// String is "PRODUCT/DEVICE".
func (r DeviceRef) String() string { return r.ProductID + "/" + r.DeviceName }

// ParseDeviceRef splits "PRODUCT/DEVICE". The daemon checks the names.
func ParseDeviceRef(s string) (DeviceRef, error) {
	pid, dn, ok := strings.Cut(s, "/")
	if !ok || pid == "" || dn == "" {
		return DeviceRef{}, fmt.Errorf("gateway: sub-device %q: write it as PRODUCT/DEVICE", s)
	}
	return DeviceRef{ProductID: pid, DeviceName: dn}, nil
}

// SubDevice is one known sub-device in the answer of GET /v1/gateway.
type SubDevice struct {
	DeviceRef
	// State is SubDeviceOnline, SubDeviceBound or SubDeviceOffline.
	State string `json:"state"`
	// Bound is set once the hub confirmed the binding.
	Bound bool `json:"bound"`
	// Configured: from the configuration, device_info.json or
	// POST /v1/gateway/subdevices (not only learnt from the hub).
	Configured bool `json:"configured"`
	// CanBind: credentials (secret or certificate file) are known.
	CanBind bool `json:"can_bind"`
	// Since is when State last changed.
	Since time.Time `json:"since,omitzero"`
	// LastError is the last failed operation on it, if any.
	LastError string `json:"last_error,omitempty"`
}

// SubDeviceConfig is the body of POST /v1/gateway/subdevices: a sub-device
// added at run time. The credentials are needed only to bind it.
type SubDeviceConfig struct {
	ProductID    string `json:"product_id"`
	DeviceName   string `json:"device_name"`
	DeviceSecret string `json:"device_secret,omitempty"`
	CertFile     string `json:"cert_file,omitempty"`
}

// Gateway operations, for [Client.GatewayOp].
const (
	GatewayOnline  = "online"
	GatewayOffline = "offline"
	GatewayBind    = "bind"
	GatewayUnbind  = "unbind"
)

// GatewayRequest is the body of POST /v1/gateway/{online,offline,bind,unbind}.
type GatewayRequest struct {
	// Devices are "PRODUCT/DEVICE" names; empty means every known
	// sub-device (not allowed for unbind).
	Devices []string `json:"devices"`
}

// GatewayResults is the answer to a gateway operation: one result per
// sub-device, and a summary error when any failed.
type GatewayResults struct {
	Results []GatewayResult `json:"results"`
	Error   string          `json:"error,omitempty"`
}

// GatewayResult is the outcome of an operation for one sub-device.
type GatewayResult struct {
	DeviceRef
	// Code is the hub's result (0 success); -1 when none arrived.
	Code  int    `json:"result"`
	Error string `json:"error,omitempty"`
}
