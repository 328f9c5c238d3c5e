package hubsim

import (
	"context"
	"net/http"
)

// CoAPInfo returns the CoAP endpoint's addresses, mode and counters.
func (c *Client) CoAPInfo(ctx context.Context) (CoAPInfo, error) {
	var v CoAPInfo
	return v, c.do(ctx, http.MethodGet, "/coap", nil, &v)
}

// SetCoAPMode switches the CoAP endpoint between piggy-backed and separate
// responses.
func (c *Client) SetCoAPMode(ctx context.Context, m CoAPMode) error {
	return c.do(ctx, http.MethodPut, "/coap/mode", mustJSON(m), nil)
}

// ExpireCoAPTokens invalidates device pid/dn's CoAP auth tokens now and
// returns how many there were.
func (c *Client) ExpireCoAPTokens(ctx context.Context, pid, dn string) (int, error) {
	var v struct {
		Expired int `json:"expired"`
	}
	err := c.do(ctx, http.MethodDelete, devicePath(pid, dn)+"/coap/tokens", nil, &v)
	return v.Expired, err
}
