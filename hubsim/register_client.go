package hubsim

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// Dynreg returns a product's dynamic registration settings.
func (c *Client) Dynreg(ctx context.Context, pid string) (DynregSettings, error) {
	var v DynregSettings
	return v, c.do(ctx, http.MethodGet, "/products/"+url.PathEscape(pid)+"/dynreg", nil, &v)
}

// SetDynreg sets a product's dynamic registration mode (DynregOff,
// DynregPrecreate, DynregAutocreate) and the auth mode of devices it
// auto-creates (AuthKey or AuthCert; "" means AuthKey).
func (c *Client) SetDynreg(ctx context.Context, pid string, s DynregSettings) (DynregSettings, error) {
	body, _ := json.Marshal(s)
	var v DynregSettings
	return v, c.do(ctx, http.MethodPut, "/products/"+url.PathEscape(pid)+"/dynreg", body, &v)
}

// SetFault makes an HTTP endpoint of the hub ("register" or "log") fail
// in the given mode (FaultNone, FaultDown, FaultGarbage).
func (c *Client) SetFault(ctx context.Context, endpoint, mode string) error {
	body, _ := json.Marshal(FaultRequest{Mode: mode})
	return c.do(ctx, http.MethodPut, "/faults/"+url.PathEscape(endpoint), body, nil)
}

// RegisterURL is the hub's dynamic registration endpoint.
func (c *Client) RegisterURL() string { return c.BaseURL + "/register/dev" }

// LogURL is the hub's log upload endpoint.
func (c *Client) LogURL() string { return c.BaseURL + "/cgi-bin/report-log" }
