package localapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"
)

// Client talks to a running daemon's local API. It is safe for concurrent
// use; its zero value is not usable, make one with [New].
type Client struct {
	socket string
	http   *http.Client
	// subDevice is PRODUCT/DEVICE for a gateway sub-device's shadow, or
	// "" (WithSubDevice).
	subDevice string
	// prefix is /v1/devices/{name} for one device of several (ForDevice),
	// or "".
	prefix string
}

// New returns a client for the daemon listening on the Unix socket at
// path. It does not connect: each call does, and a call made while no
// daemon listens fails with an error wrapping [ErrNotRunning].
func New(socket string) *Client {
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

// Socket is the path the client connects to.
func (c *Client) Socket() string { return c.socket }

// WithSubDevice returns a client whose shadow calls address the named
// sub-device ("PRODUCT/DEVICE") of a gateway device; "" is the gateway's
// own shadow. It is not [Client.ForDevice], which picks one of the devices
// a daemon runs (each its own connection to the hub); the two combine.
func (c *Client) WithSubDevice(subDevice string) *Client {
	c2 := *c
	c2.subDevice = subDevice
	return &c2
}

// WithDevice is WithSubDevice: a gateway's sub-device for the shadow
// calls.
//
// Deprecated: use [Client.WithSubDevice] (a gateway's sub-device), or
// [Client.ForDevice] (one of the devices of a daemon that runs several).
func (c *Client) WithDevice(device string) *Client { return c.WithSubDevice(device) }

func (c *Client) deviceQuery() string {
	if c.subDevice == "" {
		return ""
	}
	return "?" + url.Values{"device": {c.subDevice}}.Encode()
}

// ErrNotRunning means no daemon answers on the socket.
var ErrNotRunning = errors.New("iotd is not running")

// ErrStreamClosed ends a stream the daemon closed (it stopped).
var ErrStreamClosed = errors.New("iotd api: the daemon closed the stream")

// Error is the daemon's refusal of a request: its HTTP status and the
// reason it gave. The message is the daemon's, as the CLI prints it.
type Error struct {
	// StatusCode is the HTTP status (400 a bad request, 403 a topic that
	// is not the device's, 404 nothing there, 413 a body over
	// MaxRequestBody, 502 the hub did not answer as asked, ...).
	StatusCode int
	// Message is the daemon's reason; "" when it gave none.
	Message string
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("iotd api: %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// PublishError is a publish that was refused or not sent.
type PublishError struct {
	// Result is Refused or NotSent.
	Result PublishResult
	Reason string
}

func (e *PublishError) Error() string {
	if e.Result == NotSent {
		return "not sent: " + e.Reason
	}
	return e.Reason
}

// get and post run one request with a JSON answer.
func (c *Client) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

func (c *Client) post(ctx context.Context, path string, body, out any) error {
	return c.do(ctx, http.MethodPost, path, body, out)
}

// send makes a request with body (nil: none) as JSON.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://iotd"+c.devicePath(path), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.wrap(err)
	}
	return resp, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp.StatusCode, resp.Body)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("iotd api: %s: bad answer: %w", path, err)
	}
	return nil
}

func (c *Client) wrap(err error) error {
	if noDaemon(err) { // refused_unix.go, refused_windows.go
		return fmt.Errorf("%w (no daemon on %s; start it with `iotd run --config FILE`, or pass --socket)", ErrNotRunning, c.socket)
	}
	return fmt.Errorf("iotd api: %w", err)
}

// decodeError reads the daemon's {"error": ...} answer.
func decodeError(code int, body io.Reader) error {
	var e struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	_ = json.Unmarshal(b, &e)
	return &Error{StatusCode: code, Message: e.Error}
}

// TextOrBase64 returns b as text when it is valid UTF-8, else as base64 in
// the second result: the payload/payload_base64 pair of the wire types.
func TextOrBase64(b []byte) (text, b64 string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

// Status fetches the daemon's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.get(ctx, PathStatus, &s)
}

// Drivers lists the daemon's drivers with their probe results.
func (c *Client) Drivers(ctx context.Context) ([]ProbeResult, error) {
	var out []ProbeResult
	return out, c.get(ctx, PathDrivers, &out)
}

// Publish sends a message through the daemon. It returns the result
// (acknowledged, or stored with NoWait or when the message was already on
// the wire when Timeout passed) and the topic as expanded; a refused or
// withdrawn message is a *[PublishError], a request refused before the
// uplink was asked (a bad topic) an *[Error].
func (c *Client) Publish(ctx context.Context, req PublishRequest) (PublishResponse, error) {
	resp, err := c.send(ctx, http.MethodPost, PathPublish, req)
	if err != nil {
		return PublishResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return PublishResponse{}, c.wrap(err)
	}
	var out PublishResponse
	if json.Unmarshal(b, &out) != nil || (out.Result == "" && resp.StatusCode != http.StatusOK) {
		return out, decodeError(resp.StatusCode, bytes.NewReader(b))
	}
	switch out.Result {
	case Acknowledged, Stored:
		return out, nil
	case Refused, NotSent:
		return out, &PublishError{Result: out.Result, Reason: out.Error}
	}
	return out, fmt.Errorf("iotd api: unexpected publish result %q (%s)", out.Result, resp.Status)
}

// Subscribe streams the messages matching filter (a short filter without a
// slash is the device's own) at qos 0 or 1. The cloud subscription lasts
// while the iteration runs. The sequence ends when ctx ends or the loop
// breaks; an error (the daemon refused, went away, closed the stream:
// [ErrStreamClosed]) is yielded once, last.
func (c *Client) Subscribe(ctx context.Context, filter string, qos int) iter.Seq2[Message, error] {
	q := url.Values{"filter": {filter}, "qos": {strconv.Itoa(qos)}}
	return stream[Message](ctx, c, PathSubscribe+"?"+q.Encode())
}

// Unsubscribe drops the daemon's cloud subscription to filter (a short
// filter without a slash is the device's own topic), however many local
// subscribers hold it.
func (c *Client) Unsubscribe(ctx context.Context, filter string) (UnsubscribeResult, error) {
	var out UnsubscribeResult
	q := url.Values{"filter": {filter}}
	return out, c.do(ctx, http.MethodDelete, PathSubscribe+"?"+q.Encode(), nil, &out)
}

// Log hands a line to the log uploader (features.logupload must be on).
func (c *Client) Log(ctx context.Context, line LogLine) (LogResult, error) {
	var out LogResult
	return out, c.post(ctx, PathLog, line, &out)
}
