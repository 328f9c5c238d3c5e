package hubsim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// UploadFirmware stores data as firmware version (name "" picks
// "firmware-{version}.bin") and returns where it is served.
func (c *Client) UploadFirmware(ctx context.Context, name, version string, data []byte) (OTAFirmware, error) {
	q := url.Values{"version": {version}}
	if name != "" {
		q.Set("name", name)
	}
	var v OTAFirmware
	if data == nil {
		data = []byte{}
	}
	return v, c.do(ctx, http.MethodPost, "/ota/firmware?"+q.Encode(), data, &v)
}

// PushOTA sends update_firmware to device pid/dn and returns the message.
func (c *Client) PushOTA(ctx context.Context, pid, dn string, req OTAPushRequest) (OTAUpdate, error) {
	var v OTAUpdate
	return v, c.do(ctx, http.MethodPost, devicePath(pid, dn)+"/ota", mustJSON(req), &v)
}

// OTAStatus returns what device pid/dn reported about its firmware.
func (c *Client) OTAStatus(ctx context.Context, pid, dn string) (OTADeviceStatus, error) {
	var v OTADeviceStatus
	return v, c.do(ctx, http.MethodGet, devicePath(pid, dn)+"/ota", nil, &v)
}

// OTAInfo describes the firmware HTTPS server.
func (c *Client) OTAInfo(ctx context.Context) (OTAInfo, error) {
	var v OTAInfo
	return v, c.do(ctx, http.MethodGet, "/ota/info", nil, &v)
}

// SetOTAFaults replaces the firmware server's faults.
func (c *Client) SetOTAFaults(ctx context.Context, f OTAFaults) error {
	return c.do(ctx, http.MethodPut, "/ota/faults", mustJSON(f), nil)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
