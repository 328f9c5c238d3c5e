package hubsim

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RRPC sends payload to device pid/dn as an RRPC request through the admin
// API and returns the device's reply. timeout 0 is the hub's default; a
// device that does not answer in time gives an error wrapping
// [ErrRRPCTimeout].
func (c *Client) RRPC(ctx context.Context, pid, dn string, payload []byte, timeout time.Duration) (RRPCReply, error) {
	path := devicePath(pid, dn) + "/rrpc"
	if timeout > 0 {
		path += "?" + url.Values{"timeout": {timeout.String()}}.Encode()
	}
	if payload == nil {
		payload = []byte{}
	}
	var v RRPCReply
	err := c.do(ctx, http.MethodPost, path, payload, &v)
	// The admin API answers a device's silence with 504; c.do keeps only the
	// message, so recognise the status in it.
	if err != nil && strings.Contains(err.Error(), fmt.Sprintf("(HTTP %d)", http.StatusGatewayTimeout)) {
		return v, timeoutError{msg: err.Error()}
	}
	return v, err
}

// timeoutError keeps the admin API's message and wraps ErrRRPCTimeout.
type timeoutError struct{ msg string }

func (e timeoutError) Error() string { return e.msg }
func (e timeoutError) Unwrap() error { return ErrRRPCTimeout }
