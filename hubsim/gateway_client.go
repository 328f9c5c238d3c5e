package hubsim

import (
	"context"
	"net/http"
	"net/url"
)

// SubDevices lists the sub-devices bound to gateway pid/dn and whether
// each is online.
func (c *Client) SubDevices(ctx context.Context, pid, dn string) ([]SubDeviceView, error) {
	var v []SubDeviceView
	return v, c.do(ctx, http.MethodGet, "/gateways/"+url.PathEscape(pid)+"/"+url.PathEscape(dn)+"/subdevices", nil, &v)
}
