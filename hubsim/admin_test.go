package hubsim

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
)

func TestAdminCreateListPersist(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	h := startHub(t, dir)
	c := NewClient(h.AdminURL())

	p, err := c.CreateProduct(ctx, "PADM000001")
	require.NoError(t, err)
	assert.Equal(t, "PADM000001", p.ProductID)
	assert.Empty(t, p.ProductSecret, "the product secret is not listed")

	keyCreds, err := c.CreateDevice(ctx, "PADM000001", "k1", "")
	require.NoError(t, err)
	assert.Equal(t, AuthKey, keyCreds.Device.AuthMode)
	assert.Len(t, mustBase64(t, keyCreds.Device.Secret), 16)
	certCreds, err := c.CreateDevice(ctx, "PAUTO00001", "c1", AuthCert) // product auto-created
	require.NoError(t, err)
	assert.Contains(t, certCreds.Device.CertPEM, "BEGIN CERTIFICATE")
	assert.Contains(t, certCreds.CAPEM, "BEGIN CERTIFICATE")

	_, err = c.CreateDevice(ctx, "PADM000001", "k1", "")
	assert.ErrorContains(t, err, "HTTP 409")

	devs, err := c.Devices(ctx, "")
	require.NoError(t, err)
	require.Len(t, devs, 2)
	assert.Equal(t, "k1", devs[0].DeviceName)
	assert.Empty(t, devs[0].Secret, "listing never shows secrets")
	assert.Empty(t, devs[1].KeyPEM, "listing never shows keys")
	prods, err := c.Products(ctx)
	require.NoError(t, err)
	assert.Len(t, prods, 2)

	st, err := os.Stat(filepath.Join(dir, registryName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	st, err = os.Stat(filepath.Join(dir, caKeyName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	caBefore, err := os.ReadFile(h.CAFile())
	require.NoError(t, err)
	require.NoError(t, h.Close())

	h2 := startHub(t, dir)
	c2 := NewClient(h2.AdminURL())
	devs, err = c2.Devices(ctx, "")
	require.NoError(t, err)
	require.Len(t, devs, 2)
	got, err := c2.Credentials(ctx, "PADM000001", "k1")
	require.NoError(t, err)
	assert.Equal(t, keyCreds.Device.Secret, got.Device.Secret)
	caAfter, err := os.ReadFile(h2.CAFile())
	require.NoError(t, err)
	assert.Equal(t, caBefore, caAfter, "the CA survives a restart")
	// The restarted hub accepts the persisted device.
	connectKey(t, h2, tlsConn(t, h2, caConfig(t, h2)), "PADM000001", "k1")
}

func TestAdminBadRequests(t *testing.T) {
	h := startHub(t, "")
	_, err := h.CreateDevice("PBAD000001", "dev", false)
	require.NoError(t, err)
	tests := []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"malformed JSON", "POST", "/devices", `{"productId":`, 400, "request body"},
		{"unknown field", "POST", "/devices", `{"productId":"P1","deviceName":"d","secret":"x"}`, 400, "unknown field"},
		{"bad product id", "POST", "/products", `{"productId":"much-too-long-id"}`, 400, "product id"},
		{"bad device name", "POST", "/devices", `{"productId":"P1","deviceName":"a/b"}`, 400, "device name"},
		{"bad auth mode", "POST", "/devices", `{"productId":"P1","deviceName":"d","authMode":"PSK"}`, 400, "authMode"},
		{"trailing data", "POST", "/products", `{"productId":"P1"} {}`, 400, "data after"},
		{"patch without field", "PATCH", "/devices/PBAD000001/dev", `{}`, 400, "disabled"},
		{"unknown device", "GET", "/devices/PBAD000001/nobody", ``, 404, "not found"},
		{"publish qos 2", "POST", "/devices/PBAD000001/dev/publish?qos=2", `x`, 400, "qos"},
		{"publish outside the device", "POST", "/devices/PBAD000001/dev/publish?topic=P2/x/control", `x`, 400, "outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, h.AdminURL()+tt.path, strings.NewReader(tt.body))
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Contains(t, string(body), tt.msg)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		})
	}
}

func TestAdminPublishAndMessages(t *testing.T) {
	h := startHub(t, "")
	ctx := context.Background()
	c := NewClient(h.AdminURL())
	_, err := c.CreateDevice(ctx, "PMSG000001", "dev", "")
	require.NoError(t, err)
	cl := connectKey(t, h, tcpConn(h), "PMSG000001", "dev")
	in := make(inbox, 4)
	subscribe(t, cl, "PMSG000001/dev/control", 0, in)

	res, err := c.Publish(ctx, "PMSG000001", "dev", "", []byte("hello"), 0)
	require.NoError(t, err)
	assert.Equal(t, PublishResult{Topic: "PMSG000001/dev/control", QoS: 0, Bytes: 5}, res)
	assert.Equal(t, "hello", string(in.next(t).Payload()))

	publish(t, cl, "PMSG000001/dev/event", 1, string([]byte{0xff, 0x00}))
	msgs, err := c.Messages(ctx, "PMSG000001", "dev")
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	assert.Equal(t, Down, msgs[0].Direction)
	assert.Equal(t, "hello", msgs[0].Payload)
	assert.True(t, msgs[1].Binary)
	assert.Equal(t, []byte{0xff, 0x00}, msgs[1].PayloadBytes())

	view, err := c.Device(ctx, "PMSG000001", "dev")
	require.NoError(t, err)
	assert.True(t, view.Status.Connected)
	assert.Equal(t, int64(1), view.Status.Published)
	assert.Equal(t, []string{"PMSG000001/dev/control"}, view.Status.Subscriptions)

	require.NoError(t, c.SetDisabled(ctx, "PMSG000001", "dev", true))
	view, err = c.Device(ctx, "PMSG000001", "dev")
	require.NoError(t, err)
	assert.True(t, view.Disabled)
}

func TestWriteDeviceInfoLoadsInCore(t *testing.T) {
	h := startHub(t, "")
	tests := []struct {
		name string
		cert bool
	}{{"key device", false}, {"cert device", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := h.CreateDevice("PINFO00001", strings.ReplaceAll(tt.name, " ", "-"), tt.cert)
			require.NoError(t, err)
			require.NoError(t, info.Validate())
			dir := t.TempDir()
			path, err := h.WriteDeviceInfo(info.ProductID, info.DeviceName, dir)
			require.NoError(t, err)
			st, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

			loaded, err := core.LoadDeviceInfo(path)
			require.NoError(t, err)
			assert.Equal(t, info.ClientID(), loaded.ClientID())
			if tt.cert {
				assert.Equal(t, core.AuthCert, loaded.AuthMode)
				assert.Equal(t, filepath.Join(dir, info.DeviceName+".crt"), loaded.CertFile())
				st, err := os.Stat(loaded.KeyFile())
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
			} else {
				assert.Equal(t, info.KeyDeviceInfo.DeviceSecret, loaded.KeyDeviceInfo.DeviceSecret)
			}
		})
	}
}

func TestStateDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	startHub(t, dir)
	_, err := OpenState(dir, nil)
	assert.ErrorIs(t, err, ErrStateLocked)
}
