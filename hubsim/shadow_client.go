package hubsim

import (
	"context"
	"encoding/json"
	"net/http"
)

// Shadow returns a device's shadow document and delta.
func (c *Client) Shadow(ctx context.Context, pid, dn string) (ShadowView, error) {
	var v ShadowView
	return v, c.do(ctx, http.MethodGet, devicePath(pid, dn)+"/shadow", nil, &v)
}

// SetDesired changes a device's desired state: values are merged (a null
// value removes the key), or replace the whole desired part when replace
// is set. A connected device gets the resulting delta pushed.
func (c *Client) SetDesired(ctx context.Context, pid, dn string, values map[string]json.RawMessage, replace bool) (ShadowView, error) {
	return c.shadowWrite(ctx, pid, dn, "desired", values, replace)
}

// SetReported merges values into a device's reported state, as the console
// can; it bumps the version without notifying the device.
func (c *Client) SetReported(ctx context.Context, pid, dn string, values map[string]json.RawMessage) (ShadowView, error) {
	return c.shadowWrite(ctx, pid, dn, "reported", values, false)
}

func (c *Client) shadowWrite(ctx context.Context, pid, dn, part string, values map[string]json.RawMessage, replace bool) (ShadowView, error) {
	if values == nil {
		values = map[string]json.RawMessage{}
	}
	body, _ := json.Marshal(values)
	method := http.MethodPatch
	if replace {
		method = http.MethodPost
	}
	var v ShadowView
	return v, c.do(ctx, method, devicePath(pid, dn)+"/shadow/"+part, body, &v)
}
