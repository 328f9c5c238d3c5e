package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/features/gateway"
	"github.com/iotd/iotd/features/ota"
	"github.com/iotd/iotd/features/shadow"
)

// Client talks to a running daemon's local API.
type Client struct {
	socket string
	http   *http.Client
	device string // PRODUCT/DEVICE for a sub-device's shadow, or ""
}

// WithDevice returns a client whose shadow calls address the named
// sub-device ("PRODUCT/DEVICE") of a gateway daemon.
func (c *Client) WithDevice(device string) *Client {
	c2 := *c
	c2.device = device
	return &c2
}

func (c *Client) deviceQuery() string {
	if c.device == "" {
		return ""
	}
	return "?" + url.Values{"device": {c.device}}.Encode()
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	return &Client{
		socket: socket,
		http: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", socket)
			},
		}},
	}
}

// ErrNotRunning means no daemon answers on the socket.
var ErrNotRunning = errors.New("iotd is not running")

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://iotd"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.wrap(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *Client) wrap(err error) error {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w (no daemon on %s; start it with `iotd run --config FILE`, or pass --socket)", ErrNotRunning, c.socket)
	}
	return fmt.Errorf("iotd api: %w", err)
}

func decodeError(resp *http.Response) error {
	var e struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return errors.New(e.Error)
	}
	return fmt.Errorf("iotd api: %s", resp.Status)
}

// Status fetches the daemon's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// Drivers lists the daemon's drivers with their probe results.
func (c *Client) Drivers(ctx context.Context) ([]core.ProbeResult, error) {
	var out []core.ProbeResult
	err := c.do(ctx, http.MethodGet, "/v1/drivers", nil, &out)
	return out, err
}

// Subscribe streams messages matching filter to fn until ctx ends, the
// daemon goes away, or fn returns an error.
func (c *Client) Subscribe(ctx context.Context, filter string, qos int, fn func(Message) error) error {
	q := url.Values{"filter": {filter}, "qos": {strconv.Itoa(qos)}}
	return streamLines(ctx, c, "/v1/subscribe?"+q.Encode(), fn)
}

// RRPCRequests streams RRPC requests to fn; answer each with RRPCReply.
func (c *Client) RRPCRequests(ctx context.Context, fn func(RRPCRequest) error) error {
	return streamLines(ctx, c, "/v1/rrpc/requests", fn)
}

// RRPCReply answers the RRPC request with the given process id.
func (c *Client) RRPCReply(ctx context.Context, processID string, payload []byte) error {
	req := RRPCReply{ProcessID: processID}
	req.Payload, req.PayloadBase64 = textOrBase64(payload)
	return c.do(ctx, http.MethodPost, "/v1/rrpc/reply", req, nil)
}

// Broadcasts streams broadcast messages to fn.
func (c *Client) Broadcasts(ctx context.Context, fn func(BroadcastMessage) error) error {
	return streamLines(ctx, c, "/v1/broadcast", fn)
}

// streamLines reads a JSON-lines stream from path and calls fn for each
// value until ctx ends (nil), the daemon closes the stream (an error), or fn
// returns an error (that error).
func streamLines[T any](ctx context.Context, c *Client, path string, fn func(T) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://iotd"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return c.wrap(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return fmt.Errorf("iotd api: bad stream line: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("iotd api: %w", err)
	}
	return errors.New("iotd api: the daemon closed the stream")
}

// Shadow returns the daemon's last known shadow document, or, with fresh,
// reads it from the hub first.
func (c *Client) Shadow(ctx context.Context, fresh bool) (shadow.Document, error) {
	var doc shadow.Document
	if fresh {
		return doc, c.do(ctx, http.MethodPost, "/v1/shadow/get"+c.deviceQuery(), nil, &doc)
	}
	return doc, c.do(ctx, http.MethodGet, "/v1/shadow"+c.deviceQuery(), nil, &doc)
}

// ShadowReport reports values and returns the document after the update.
func (c *Client) ShadowReport(ctx context.Context, req ShadowReport) (shadow.Document, error) {
	var doc shadow.Document
	return doc, c.do(ctx, http.MethodPost, "/v1/shadow/report"+c.deviceQuery(), req, &doc)
}

// ShadowClearDesired removes all desired state.
func (c *Client) ShadowClearDesired(ctx context.Context) (shadow.Document, error) {
	var doc shadow.Document
	return doc, c.do(ctx, http.MethodPost, "/v1/shadow/clear-desired"+c.deviceQuery(), nil, &doc)
}

// ShadowWatch streams shadow deltas to fn.
func (c *Client) ShadowWatch(ctx context.Context, fn func(shadow.Delta) error) error {
	return streamLines(ctx, c, "/v1/shadow/watch"+c.deviceQuery(), fn)
}

// OTA returns the firmware update state.
func (c *Client) OTA(ctx context.Context) (ota.Status, error) {
	var s ota.Status
	return s, c.do(ctx, http.MethodGet, "/v1/ota", nil, &s)
}

// GatewaySubDevices lists the gateway's known sub-devices and their state.
func (c *Client) GatewaySubDevices(ctx context.Context) ([]gateway.SubDevice, error) {
	var out []gateway.SubDevice
	return out, c.do(ctx, http.MethodGet, "/v1/gateway", nil, &out)
}

// GatewayDescribe asks the hub which sub-devices are bound to the gateway.
func (c *Client) GatewayDescribe(ctx context.Context) ([]gateway.Ref, error) {
	var out []gateway.Ref
	return out, c.do(ctx, http.MethodGet, "/v1/gateway/describe", nil, &out)
}

// GatewayOp runs online, offline, bind or unbind for the named sub-devices
// ("PRODUCT/DEVICE"; none means all known, except for unbind).
func (c *Client) GatewayOp(ctx context.Context, op string, devices []string) (GatewayResults, error) {
	var out GatewayResults
	return out, c.do(ctx, http.MethodPost, "/v1/gateway/"+url.PathEscape(op), GatewayRequest{Devices: devices}, &out)
}

// GatewayAdd adds a sub-device at run time.
func (c *Client) GatewayAdd(ctx context.Context, sub gateway.SubDeviceConfig) error {
	return c.do(ctx, http.MethodPost, "/v1/gateway/subdevices", sub, nil)
}

// Log hands a line to the log uploader.
func (c *Client) Log(ctx context.Context, line LogLine) error {
	return c.do(ctx, http.MethodPost, "/v1/log", line, nil)
}
