package daemon

import (
	"context"
	"net/http"
	"net/url"
)

// Unsubscribe drops the daemon's cloud subscription to filter (a short
// filter without a slash is the device's own topic), however many local
// subscribers hold it.
func (c *Client) Unsubscribe(ctx context.Context, filter string) (UnsubscribeResult, error) {
	var out UnsubscribeResult
	q := url.Values{"filter": {filter}}
	err := c.do(ctx, http.MethodDelete, "/v1/subscribe?"+q.Encode(), nil, &out)
	return out, err
}
