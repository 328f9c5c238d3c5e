package daemon

import (
	"context"
	"net/http"
	"net/url"
)

// Outbox lists the outbox's use and the parked messages.
func (c *Client) Outbox(ctx context.Context) (OutboxList, error) {
	var out OutboxList
	return out, c.do(ctx, http.MethodGet, "/v1/outbox", nil, &out)
}

// OutboxRetry queues the parked message id again.
func (c *Client) OutboxRetry(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/v1/outbox/"+url.PathEscape(id)+"/retry", nil, nil)
}

// OutboxDrop deletes the parked message id.
func (c *Client) OutboxDrop(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/outbox/"+url.PathEscape(id), nil, nil)
}
