package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/iotd/iotd/bus"
)

// Publish sends a message through the daemon. It returns the result
// (acknowledged, or stored with NoWait or when the message was already on
// the wire when Timeout passed) and the topic as expanded; a refused or
// withdrawn message is a *PublishError.
func (c *Client) Publish(ctx context.Context, req PublishRequest) (PublishResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return PublishResponse{}, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://iotd/v1/publish", bytes.NewReader(body))
	if err != nil {
		return PublishResponse{}, err
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return PublishResponse{}, c.wrap(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return PublishResponse{}, c.wrap(err)
	}
	var out PublishResponse
	if json.Unmarshal(b, &out) != nil || (out.Result == "" && resp.StatusCode != http.StatusOK) {
		// An error before the uplink was asked: a bad request, a topic
		// that is not the device's.
		return out, decodeError(&http.Response{Status: resp.Status, Body: io.NopCloser(bytes.NewReader(b))})
	}
	switch out.Result {
	case bus.Acknowledged, bus.Stored:
		return out, nil
	case bus.Refused, bus.NotSent:
		return out, &PublishError{Result: out.Result, Reason: out.Error}
	}
	return out, fmt.Errorf("iotd api: unexpected publish result %q (%s)", out.Result, resp.Status)
}
