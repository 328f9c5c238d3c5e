package daemon

import (
	"context"
	"net/http"
	"net/url"

	"github.com/iotd/iotd/core/driver"
)

// ATModems lists the AT modems the daemon's drivers have open; with
// refresh they are asked first (at most every 30 s each).
func (c *Client) ATModems(ctx context.Context, refresh bool) ([]driver.ModemStatus, error) {
	var out []driver.ModemStatus
	path := "/v1/at/modems"
	if refresh {
		path += "?refresh=1"
	}
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// ATSend runs one AT command on a modem the daemon holds. A command that
// failed (ERROR, a timeout, refused) comes back with Error set and no
// error; the error is for a request that could not be made.
func (c *Client) ATSend(ctx context.Context, req ATSendRequest) (ATSendResult, error) {
	var out ATSendResult
	return out, c.do(ctx, http.MethodPost, "/v1/at/send", req, &out)
}

// ATTrace streams the trace of the modem on port ("" for every modem,
// including one opened later) to fn until ctx ends, the daemon goes away,
// or fn returns an error.
func (c *Client) ATTrace(ctx context.Context, port string, fn func(driver.ATTraceEvent) error) error {
	path := "/v1/at/trace"
	if port != "" {
		path += "?" + url.Values{"port": {port}}.Encode()
	}
	return streamLines(ctx, c, path, fn)
}
