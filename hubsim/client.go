package hubsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ErrUnreachable is wrapped by Client errors when no hubsim answers at the
// admin address.
var ErrUnreachable = errors.New("hubsim: admin API unreachable")

// Client talks to a running hubsim's admin API.
type Client struct {
	// BaseURL is like "http://127.0.0.1:8080"; a bare host:port is accepted.
	BaseURL string
	// HTTP defaults to http.DefaultClient.
	HTTP *http.Client
}

// NewClient returns a client for addr ("127.0.0.1:8080" or a URL).
func NewClient(addr string) *Client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &Client{BaseURL: strings.TrimRight(addr, "/")}
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return fmt.Errorf("hubsim: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s (is `hubsim serve` running? pass --admin): %v", ErrUnreachable, c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("hubsim: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
			return fmt.Errorf("hubsim: %s (HTTP %d)", strings.TrimPrefix(eb.Error, "hubsim: "), resp.StatusCode)
		}
		return fmt.Errorf("hubsim: %s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("hubsim: %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// Info describes the hub.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var v Info
	return v, c.do(ctx, http.MethodGet, "/info", nil, &v)
}

// Products lists products (without secrets).
func (c *Client) Products(ctx context.Context) ([]Product, error) {
	var v []Product
	return v, c.do(ctx, http.MethodGet, "/products", nil, &v)
}

// CreateProduct creates a product.
func (c *Client) CreateProduct(ctx context.Context, pid string) (Product, error) {
	body, _ := json.Marshal(CreateProductRequest{ProductID: pid})
	var v Product
	return v, c.do(ctx, http.MethodPost, "/products", body, &v)
}

// Devices lists devices with their status; pid "" lists all.
func (c *Client) Devices(ctx context.Context, pid string) ([]DeviceView, error) {
	path := "/devices"
	if pid != "" {
		path += "?product=" + url.QueryEscape(pid)
	}
	var v []DeviceView
	return v, c.do(ctx, http.MethodGet, path, nil, &v)
}

// CreateDevice creates a device and returns its credentials.
func (c *Client) CreateDevice(ctx context.Context, pid, dn, authMode string) (Credentials, error) {
	body, _ := json.Marshal(CreateDeviceRequest{ProductID: pid, DeviceName: dn, AuthMode: authMode})
	var v Credentials
	return v, c.do(ctx, http.MethodPost, "/devices", body, &v)
}

// Device returns a device and its status.
func (c *Client) Device(ctx context.Context, pid, dn string) (DeviceView, error) {
	var v DeviceView
	return v, c.do(ctx, http.MethodGet, devicePath(pid, dn), nil, &v)
}

// Credentials returns a device's credentials.
func (c *Client) Credentials(ctx context.Context, pid, dn string) (Credentials, error) {
	var v Credentials
	return v, c.do(ctx, http.MethodGet, devicePath(pid, dn)+"/credentials", nil, &v)
}

// Messages returns a device's message log.
func (c *Client) Messages(ctx context.Context, pid, dn string) ([]Record, error) {
	var v []Record
	return v, c.do(ctx, http.MethodGet, devicePath(pid, dn)+"/messages", nil, &v)
}

// Publish sends payload to a device on topic (see DeviceTopic).
func (c *Client) Publish(ctx context.Context, pid, dn, topic string, payload []byte, qos byte) (PublishResult, error) {
	q := url.Values{"topic": {topic}, "qos": {strconv.Itoa(int(qos))}}
	var v PublishResult
	if payload == nil {
		payload = []byte{}
	}
	return v, c.do(ctx, http.MethodPost, devicePath(pid, dn)+"/publish?"+q.Encode(), payload, &v)
}

// SetDisabled enables or disables a device.
func (c *Client) SetDisabled(ctx context.Context, pid, dn string, disabled bool) error {
	body, _ := json.Marshal(UpdateDeviceRequest{Disabled: &disabled})
	return c.do(ctx, http.MethodPatch, devicePath(pid, dn), body, nil)
}

func devicePath(pid, dn string) string {
	return "/devices/" + url.PathEscape(pid) + "/" + url.PathEscape(dn)
}
