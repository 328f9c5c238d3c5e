package hubsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/iotd/iotd/internal/pki"
)

func init() { registerBuiltin(func() Service { return &gatewayService{} }) }

// gatewayFile is where the gateway topology is persisted, in the state
// directory.
const gatewayFile = "gateways.json"

// Result codes of gateway operations. The real hub's codes are not
// documented (PROTOCOL.md §2.5 only says 0 is success); these are hubsim's.
const (
	// GatewayOK: the operation succeeded.
	GatewayOK = 0
	// GatewayInvalid: the device entry is malformed (missing fields, a
	// sub-device naming the gateway itself, an unknown sign method).
	GatewayInvalid = 1000
	// GatewayBadSignature: the bind signature does not verify with the
	// sub-device's secret (or the MD5 of its certificate).
	GatewayBadSignature = 1001
	// GatewayUnknownSubDevice: no such device in the registry.
	GatewayUnknownSubDevice = 1002
	// GatewayNotBound: online, offline or unbind of a sub-device that is not
	// bound to this gateway.
	GatewayNotBound = 1003
	// GatewayBoundElsewhere: bind or online of a sub-device bound to
	// another gateway; unbind it there first.
	GatewayBoundElsewhere = 1004
)

// SubDeviceView is a sub-device as the admin API lists it.
type SubDeviceView struct {
	ProductID  string `json:"productId"`
	DeviceName string `json:"deviceName"`
	Online     bool   `json:"online"`
}

// gatewayService is the gateway service (PROTOCOL.md §2.5): it answers
// online, offline, bind, unbind and describe_sub_devices on
// $gateway/operation/{pid}/{dn} with results on
// $gateway/operation/result/{pid}/{dn}, keeps the topology (which gateway
// each sub-device is bound to, persisted) and the online state (in memory,
// per gateway session), and extends the ACL so that a gateway can use its
// online sub-devices' topics (see gateway_acl.go).
type gatewayService struct {
	h    *Hub
	path string

	mu      sync.RWMutex
	bound   map[DeviceRef]DeviceRef        // sub-device → gateway; persisted
	online  map[DeviceRef]bool             // sub-devices online through their gateway
	pending map[string]map[string]struct{} // client id → filters being subscribed
}

func (g *gatewayService) Name() string { return "gateway" }

// gatewayEntry is one binding in the state file.
type gatewayEntry struct {
	Gateway   DeviceRef `json:"gateway"`
	SubDevice DeviceRef `json:"subDevice"`
}

func (g *gatewayService) Start(_ context.Context, h *Hub) error {
	g.h = h
	g.path = filepath.Join(h.cfg.StateDir, gatewayFile)
	g.bound = map[DeviceRef]DeviceRef{}
	g.online = map[DeviceRef]bool{}
	g.pending = map[string]map[string]struct{}{}
	data, err := os.ReadFile(g.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("hubsim: gateways: %w", err)
	default:
		var entries []gatewayEntry
		if err := json.Unmarshal(data, &entries); err != nil {
			return fmt.Errorf("hubsim: gateways file %s is corrupt (%v); fix or remove it", g.path, err)
		}
		for _, e := range entries {
			g.bound[e.SubDevice] = e.Gateway
		}
	}
	if err := h.broker.AddHook(&gatewayHook{g: g}, nil); err != nil {
		return fmt.Errorf("hubsim: gateway hook: %w", err)
	}
	h.AllowACL(g.allow)
	h.AddPresence(func(dev DeviceRef) bool {
		g.mu.RLock()
		defer g.mu.RUnlock()
		return g.online[dev]
	})
	h.Handle("gateway", "$gateway/operation/+/+", g.handle)
	h.Admin().HandleFunc("GET /gateways/{pid}/{dn}/subdevices", func(w http.ResponseWriter, r *http.Request) {
		d, err := h.store.Device(r.PathValue("pid"), r.PathValue("dn"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, g.SubDevices(DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}))
	})
	return nil
}

// SubDevices lists the sub-devices bound to gw, sorted.
func (g *gatewayService) SubDevices(gw DeviceRef) []SubDeviceView {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := []SubDeviceView{}
	for sub, owner := range g.bound {
		if owner == gw {
			out = append(out, SubDeviceView{ProductID: sub.ProductID, DeviceName: sub.DeviceName, Online: g.online[sub]})
		}
	}
	slices.SortFunc(out, func(a, b SubDeviceView) int {
		return strings.Compare(a.ProductID+"/"+a.DeviceName, b.ProductID+"/"+b.DeviceName)
	})
	return out
}

// gatewayRequest is a request on $gateway/operation/{pid}/{dn}.
type gatewayRequest struct {
	Type    string `json:"type"`
	Payload struct {
		Devices []gatewayDevice `json:"devices"`
	} `json:"payload"`
}

type gatewayDevice struct {
	ProductID  string `json:"product_id"`
	DeviceName string `json:"device_name"`
	Signature  string `json:"signature,omitempty"`
	Random     int64  `json:"random,omitempty"`
	Timestamp  int64  `json:"timestamp,omitempty"`
	SignMethod string `json:"signmethod,omitempty"`
	AuthType   string `json:"authtype,omitempty"`
}

type gatewayResultDevice struct {
	ProductID  string `json:"product_id"`
	DeviceName string `json:"device_name"`
	Result     *int   `json:"result,omitempty"`
}

type gatewayResult struct {
	Type    string `json:"type"`
	Payload struct {
		Devices []gatewayResultDevice `json:"devices"`
	} `json:"payload"`
}

// parseGatewayRequest decodes a request and checks its type.
func parseGatewayRequest(b []byte) (gatewayRequest, error) {
	var req gatewayRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return req, fmt.Errorf("%w: not a JSON gateway request: %v", ErrInvalid, err)
	}
	switch req.Type {
	case "describe_sub_devices", "online", "offline", "bind", "unbind":
		return req, nil
	}
	return req, fmt.Errorf("%w: gateway request type %q: use online, offline, bind, unbind or describe_sub_devices", ErrInvalid, req.Type)
}

// handle answers one gateway request. A request that is not JSON or has
// an unknown type is logged and not answered (there is nothing to match a
// result to).
func (g *gatewayService) handle(m Message) {
	h := g.h
	gw := m.Device
	if m.Topic != "$gateway/operation/"+gw.ProductID+"/"+gw.DeviceName {
		h.log.Warn("gateway request ignored", "device", gw.String(), "topic", m.Topic, "reason", "topic of another device")
		return
	}
	req, err := parseGatewayRequest(m.Payload)
	if err != nil {
		h.log.Warn("gateway request ignored", "device", gw.String(), "reason", err.Error())
		return
	}
	res := gatewayResult{Type: req.Type}
	switch req.Type {
	case "describe_sub_devices":
		res.Payload.Devices = []gatewayResultDevice{}
		for _, s := range g.SubDevices(gw) {
			res.Payload.Devices = append(res.Payload.Devices, gatewayResultDevice{ProductID: s.ProductID, DeviceName: s.DeviceName})
		}
	case "online", "offline", "bind", "unbind":
		for _, d := range req.Payload.Devices {
			code, reason := g.apply(gw, req.Type, d)
			sub := DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}
			if code != GatewayOK {
				h.log.Warn("gateway operation refused", "gateway", gw.String(), "op", req.Type, "sub_device", sub.String(),
					"result", code, "reason", reason)
			} else {
				h.log.Info("gateway operation", "gateway", gw.String(), "op", req.Type, "sub_device", sub.String())
			}
			res.Payload.Devices = append(res.Payload.Devices, gatewayResultDevice{ProductID: d.ProductID, DeviceName: d.DeviceName, Result: &code})
		}
	}
	b, _ := json.Marshal(res)
	if err := h.Publish("$gateway/operation/result/"+gw.ProductID+"/"+gw.DeviceName, b, 1); err != nil {
		h.log.Warn("gateway result", "device", gw.String(), "error", err)
	}
}

// apply performs one operation for one sub-device and returns its result
// code and, for a refusal, why.
func (g *gatewayService) apply(gw DeviceRef, op string, d gatewayDevice) (int, string) {
	sub := DeviceRef{ProductID: d.ProductID, DeviceName: d.DeviceName}
	if sub.ProductID == "" || sub.DeviceName == "" {
		return GatewayInvalid, "product_id and device_name are required"
	}
	if sub == gw {
		return GatewayInvalid, "a gateway cannot be its own sub-device"
	}
	dev, err := g.h.store.Device(sub.ProductID, sub.DeviceName)
	if err != nil {
		return GatewayUnknownSubDevice, "no such device; create it with `hubsim device create`"
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	owner, isBound := g.bound[sub]
	switch op {
	case "bind":
		if isBound && owner != gw {
			return GatewayBoundElsewhere, "bound to gateway " + owner.String() + "; unbind it there first"
		}
		if code, reason := verifyBind(dev, d); code != GatewayOK {
			return code, reason
		}
		if isBound {
			return GatewayOK, ""
		}
		g.bound[sub] = gw
		if err := g.saveLocked(); err != nil {
			delete(g.bound, sub)
			g.h.log.Error("gateway bind not persisted", "error", err)
			return GatewayInvalid, "the hub could not store the binding"
		}
		return GatewayOK, ""
	case "unbind":
		if !isBound || owner != gw {
			return GatewayNotBound, "not bound to this gateway"
		}
		delete(g.bound, sub)
		delete(g.online, sub)
		if err := g.saveLocked(); err != nil {
			g.bound[sub] = gw
			g.h.log.Error("gateway unbind not persisted", "error", err)
			return GatewayInvalid, "the hub could not store the binding"
		}
		return GatewayOK, ""
	default: // online, offline
		if !isBound {
			return GatewayNotBound, "not bound to any gateway; bind it first"
		}
		if owner != gw {
			return GatewayBoundElsewhere, "bound to gateway " + owner.String()
		}
		if op == "online" {
			g.online[sub] = true
		} else {
			delete(g.online, sub)
		}
		return GatewayOK, ""
	}
}

// saveLocked rewrites the topology file (atomic, 0600).
func (g *gatewayService) saveLocked() error {
	entries := make([]gatewayEntry, 0, len(g.bound))
	for sub, gw := range g.bound {
		entries = append(entries, gatewayEntry{Gateway: gw, SubDevice: sub})
	}
	slices.SortFunc(entries, func(a, b gatewayEntry) int { return strings.Compare(a.SubDevice.String(), b.SubDevice.String()) })
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(g.path, append(data, '\n'), 0o600)
}

// offlineAll takes every sub-device of gw offline (its session ended or a
// new one began).
func (g *gatewayService) offlineAll(gw DeviceRef) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for sub := range g.online {
		if g.bound[sub] == gw {
			delete(g.online, sub)
		}
	}
}

// gatewayHook follows gateway sessions (a new or ended session takes the
// sub-devices offline), marks subscriptions in progress for the ACL, and
// logs a gateway's publishes for a sub-device in the sub-device's log.
type gatewayHook struct {
	mqtt.HookBase
	g *gatewayService
}

func (k *gatewayHook) ID() string { return "hubsim-gateway" }

func (k *gatewayHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnPublish:
		return true
	}
	return false
}
