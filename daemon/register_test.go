package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/hubsim"
)

// A device with only a product secret registers before its first
// connection, connects with what it got, and does not register twice.
func TestRegisterThenConnect(t *testing.T) {
	hub := startHub(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := hubsim.NewClient(hub.AdminURL())
	_, err := hub.Store().CreateProduct("PREG000001")
	require.NoError(t, err)
	_, err = admin.SetDynreg(ctx, "PREG000001", hubsim.DynregSettings{Mode: hubsim.DynregAutocreate})
	require.NoError(t, err)
	p, err := hub.Store().Product("PREG000001")
	require.NoError(t, err)

	dir := t.TempDir()
	info := fmt.Sprintf(`{"auth_mode":"KEY","productId":"PREG000001","productSecret":%q,"deviceName":"fresh1","key_deviceinfo":{"deviceSecret":""}}`, p.ProductSecret)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "device_info.json"), []byte(info), 0o600))
	cfg := configFor(t, hub, dir, "registration:\n  url: "+admin.RegisterURL()+"\n")

	registered, err := Register(ctx, cfg, testRegistry(t), nil)
	require.NoError(t, err)
	assert.True(t, registered)
	got, err := core.LoadDeviceInfo(filepath.Join(dir, "device_info.json"))
	require.NoError(t, err)
	assert.NotEmpty(t, got.KeyDeviceInfo.DeviceSecret)

	registered, err = Register(ctx, cfg, testRegistry(t), nil)
	require.NoError(t, err)
	assert.False(t, registered, "a second start does not register again")

	r := startDaemon(t, cfg)
	r.waitStatus(t, "connected", connected)
}

// addrRecorder is a stream driver named "tcp" that records the addresses
// it is asked to dial and refuses them: registration's endpoint is
// observed without reaching the real hub.
type addrRecorder struct{ addrs chan string }

func (addrRecorder) Name() string                         { return "tcp" }
func (addrRecorder) Transports() []driver.Transport       { return []driver.Transport{driver.Stream} }
func (addrRecorder) Probe(context.Context) error          { return nil }
func (a addrRecorder) Open([]byte) (driver.Dialer, error) { return a, nil }
func (a addrRecorder) Dial(_ context.Context, _ driver.Transport, addr string) (driver.Conn, error) {
	a.addrs <- addr
	return nil, fmt.Errorf("dial %s: %w", addr, driver.ErrRefused)
}

// Without registration.url, the device's region chooses the endpoint.
func TestRegisterUsesTheRegionsEndpoint(t *testing.T) {
	dir := t.TempDir()
	info := `{"auth_mode":"KEY","productId":"PREG000002","productSecret":"cHJvZHVjdCBzZWNyZXQgMTIzNA==","deviceName":"fresh1","region":"us-east","key_deviceinfo":{"deviceSecret":""}}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "device_info.json"), []byte(info), 0o600))
	p := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(p, []byte("registration: {timeout: 2s}\n"), 0o600))
	cfg, err := LoadConfig(p)
	require.NoError(t, err)
	rec := addrRecorder{addrs: make(chan string, 8)}
	reg := core.NewRegistry()
	require.NoError(t, reg.Register(rec))

	_, err = Register(context.Background(), cfg, reg, nil)
	require.Error(t, err)
	assert.Equal(t, "us-east.gateway.tencentdevices.com:443", <-rec.addrs)
}
