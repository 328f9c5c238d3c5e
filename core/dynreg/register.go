package dynreg

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"time"

	"github.com/iotd/iotd/core"
)

// DefaultURL is the hub's v1 registration endpoint.
const DefaultURL = "https://gateway.tencentdevices.com/register/dev"

// DefaultTimeout bounds one registration exchange.
const DefaultTimeout = 10 * time.Second

// maxAnswer bounds the answer read from the hub.
const maxAnswer = 64 << 10

// ErrNoProductSecret is returned when registration is needed but
// device_info.json holds no usable productSecret.
var ErrNoProductSecret = errors.New("dynreg: device_info.json has no device secret or certificate, and no productSecret to register with: copy the product secret from the console into productSecret, or fill in the device's credentials")

// Config configures registration. The zero value works.
type Config struct {
	// URL is the registration endpoint (default DefaultURL).
	URL string `yaml:"url" json:"url"`
	// KeepProductSecret keeps productSecret in device_info.json after a
	// successful registration; by default it is removed, so a stolen file
	// cannot register more devices.
	KeepProductSecret bool `yaml:"keep_product_secret" json:"keep_product_secret"`
	// Timeout bounds one exchange with the hub (default 10s).
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
	// FormContentType labels the JSON body with the C SDK's Content-Type,
	// application/x-www-form-urlencoded (nil or true, the default), or,
	// when false, with application/json, what the body is. Whether the hub
	// takes application/json is unconfirmed (PROTOCOL.md §8.3 item 10).
	FormContentType *bool `yaml:"form_content_type" json:"form_content_type"`
}

// The request's headers, as the C SDK's v1 registration sends them
// (sdk_src/services/dynreg/dynreg.c, _post_reg_request_by_http).
const (
	sdkAccept      = "text/xml,application/json;*/*"
	sdkContentType = "application/x-www-form-urlencoded"
)

func (c Config) contentType() string {
	if c.FormContentType == nil || *c.FormContentType {
		return sdkContentType
	}
	return "application/json"
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Timeout < 0 {
		return errors.New("dynreg: timeout: must not be negative")
	}
	return nil
}

func (c Config) url() string {
	if c.URL == "" {
		return DefaultURL
	}
	return c.URL
}

// Register asks the hub at cfg.URL for the credentials of info's device,
// signing with info.ProductSecret at time now() (nil: time.Now). It writes
// nothing; see [Save] and [RegisterFile]. client nil means
// http.DefaultClient (the daemon passes one over its driver).
func Register(ctx context.Context, cfg Config, client *http.Client, info *core.DeviceInfo, now func() time.Time) (Credentials, error) {
	if err := cfg.Validate(); err != nil {
		return Credentials{}, err
	}
	if info == nil || info.ProductID == "" || info.DeviceName == "" {
		return Credentials{}, errors.New("dynreg: productId and deviceName are required to register")
	}
	if !info.HasProductSecret() {
		return Credentials{}, ErrNoProductSecret
	}
	if client == nil {
		client = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	nonce, err := rand.Int(rand.Reader, big.NewInt(1<<31-2))
	if err != nil {
		return Credentials{}, fmt.Errorf("dynreg: nonce: %w", err)
	}
	req := NewRequest(info.ProductSecret, info.ProductID, info.DeviceName, nonce.Int64()+1, now().Unix())
	body, err := json.Marshal(req)
	if err != nil {
		return Credentials{}, fmt.Errorf("dynreg: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.url(), bytes.NewReader(body))
	if err != nil {
		return Credentials{}, fmt.Errorf("dynreg: url %q: %w", cfg.url(), err)
	}
	// The C SDK's header set: Host, Accept, Content-Length and Content-Type;
	// no User-Agent (an empty one makes net/http send none), and the
	// connection closed after the answer.
	hreq.Header.Set("Content-Type", cfg.contentType())
	hreq.Header.Set("Accept", sdkAccept)
	hreq.Header["User-Agent"] = []string{""}
	hreq.Close = true
	resp, err := client.Do(hreq)
	if err != nil {
		return Credentials{}, fmt.Errorf("dynreg: register %s/%s at %s: %w", info.ProductID, info.DeviceName, cfg.url(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return Credentials{}, fmt.Errorf("dynreg: read the answer of %s: %w", cfg.url(), err)
	}
	c, err := ParseResponse(data, info.ProductSecret)
	if err != nil && resp.StatusCode != http.StatusOK && errors.Is(err, ErrBadAnswer) {
		return Credentials{}, fmt.Errorf("%w: HTTP %s from %s", err, resp.Status, cfg.url())
	}
	return c, err
}

// RegisterFile registers the device of the device_info.json at path when
// it needs it ([NeedsRegistration]) and saves the result ([Save]). It
// returns the identity to connect with (loaded and validated) and whether a
// registration happened.
func RegisterFile(ctx context.Context, cfg Config, client *http.Client, path string, now func() time.Time) (*core.DeviceInfo, bool, error) {
	f, err := Load(path)
	if err != nil {
		return nil, false, err
	}
	if !NeedsRegistration(f.Info) {
		info, err := core.LoadDeviceInfo(path)
		return info, false, err
	}
	c, err := Register(ctx, cfg, client, f.Info, now)
	if err != nil {
		return nil, false, err
	}
	info, err := Save(f, c, cfg.KeepProductSecret)
	if err != nil {
		return nil, false, err
	}
	return info, true, nil
}
