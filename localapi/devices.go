package localapi

import (
	"context"
	"net/url"
	"strings"
)

// Several devices in one daemon. A daemon whose configuration has
// devices: runs one device per entry, by name; each device's routes are
// the single-device ones under /v1/devices/{name}: GET
// /v1/devices/b/status is device b's GET /v1/status, POST
// /v1/devices/b/publish its POST /v1/publish, and so on. The unprefixed
// paths address the daemon's device when it runs exactly one (a
// configuration without devices: names it "default"), and are refused
// with 400 when it runs several — except GET /v1/devices, GET /v1/drivers
// and /v1/at/..., which are the daemon's: the devices share its drivers and
// modems.

// PathDevices lists the daemon's devices; a device's routes are under
// PathDevices + "/" + name.
const PathDevices = "/v1/devices"

// Device states, the values of [DeviceSummary].State besides the link's
// (LinkConnecting, LinkConnected, LinkDisconnected, LinkStopped).
const (
	// DeviceStarting: the device is built but does not run yet.
	DeviceStarting = "starting"
)

// DeviceSummary is one device of GET /v1/devices: its name in the daemon
// and, in short, what it is and how it is connected.
type DeviceSummary struct {
	// Name is the device's key under devices: in the configuration, or
	// "default" for a configuration without it.
	Name       string `json:"name"`
	ProductID  string `json:"product_id"`
	DeviceName string `json:"device_name"`
	// Channel is mqtt, websocket, coap or at-tencent.
	Channel string `json:"channel"`
	// State is DeviceStarting until the device runs, then its link's
	// state (LinkConnecting, LinkConnected, ...).
	State string `json:"state"`
	// Err says why the link is not connected, when it is not.
	Err string `json:"error,omitempty"`
}

// ForDevice returns a client whose every call addresses the daemon's
// device named name (a key under devices: in its configuration): each
// path /v1/X becomes /v1/devices/{name}/X. "" is the daemon's only
// device, the unprefixed paths. It is not [Client.WithSubDevice], which
// picks a gateway's sub-device for the shadow calls; the two combine.
func (c *Client) ForDevice(name string) *Client {
	c2 := *c
	c2.prefix = ""
	if name != "" {
		c2.prefix = PathDevices + "/" + url.PathEscape(name)
	}
	return &c2
}

// Device is the name ForDevice gave, or "".
func (c *Client) Device() string {
	name, _ := url.PathUnescape(strings.TrimPrefix(c.prefix, PathDevices+"/"))
	return name
}

// devicePath is path for the device ForDevice chose: /v1/X under its
// prefix.
func (c *Client) devicePath(path string) string {
	if c.prefix == "" {
		return path
	}
	if rest, ok := strings.CutPrefix(path, "/v1/"); ok {
		return c.prefix + "/" + rest
	}
	return path
}

// Devices lists the daemon's devices in name order (one, "default", for a
// configuration without devices:), whichever device ForDevice chose.
func (c *Client) Devices(ctx context.Context) ([]DeviceSummary, error) {
	root := *c
	root.prefix = ""
	var out []DeviceSummary
	return out, root.get(ctx, PathDevices, &out)
}
