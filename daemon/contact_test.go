package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/websocket"
	"github.com/iotd/iotd/internal/pki"
)

// The trusts the device names by default, as `iotd run --check` prints them.
const (
	bundledHubTrust = "the Tencent IoT Hub CAs bundled with iotd"
	bundledWebTrust = "the system roots and the CAs bundled with iotd"
)

// writeKeyDevice writes a KEY device_info.json with region into a new
// directory, and a config made of yaml, and returns the loaded config.
func contactConfig(t *testing.T, region, yaml string) *Config {
	t.Helper()
	dir := t.TempDir()
	info := &core.DeviceInfo{AuthMode: core.AuthKey, ProductID: "PID0000001", DeviceName: "dev1", Region: region}
	info.KeyDeviceInfo.DeviceSecret = "c2VjcmV0IHNlY3JldCE="
	require.NoError(t, core.SaveDeviceInfo(filepath.Join(dir, "device_info.json"), info))
	p := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(p, []byte(yaml), 0o600))
	cfg, err := LoadConfig(p)
	require.NoError(t, err)
	return cfg
}

// The link's endpoint follows the region, the channel and the driver; an
// explicit endpoint wins.
func TestContactEndpoints(t *testing.T) {
	rows := []struct {
		region, yaml        string
		endpoint, from, drv string
	}{
		{"", "", "PID0000001.iotcloud.tencentdevices.com:8883", "region china", "tls"},
		{"china", "link: {driver: tcp}\n", "PID0000001.iotcloud.tencentdevices.com:1883", "region china", "tcp"},
		{"us-east", "", "PID0000001.us-east.iotcloud.tencentdevices.com:8883", "region us-east", "tls"},
		{"", "region: europe\n", "PID0000001.europe.iothub.tencentdevices.com:8883", "region europe", "tls"},
		{"ap-bangkok", "channel: coap\n", "PID0000001.ap-bangkok.iothub.tencentdevices.com:5684", "region ap-bangkok", "dtls"},
		{"europe", "link: {endpoint: 'hub.example:8883'}\n", "hub.example:8883", "link.endpoint in ", "tls"},
		{"", "channel: websocket\n", "PID0000001.ap-guangzhou.iothub.tencentdevices.com:443", "region china", "websocket"},
		{"us-east", "channel: websocket\nlink: {driver: tcp}\n", "PID0000001.us-east.iothub.tencentdevices.com:80", "region us-east", "websocket"},
	}
	for _, row := range rows {
		t.Run(row.region+" "+strings.TrimSpace(row.yaml), func(t *testing.T) {
			cfg := contactConfig(t, row.region, row.yaml)
			reg := coapRegistry(t)
			require.NoError(t, reg.Register(websocket.NewIn(reg)))
			d, err := New(cfg, reg, nil)
			require.NoError(t, err)
			c := d.Contact()
			assert.Equal(t, row.endpoint, c.Endpoint)
			assert.Contains(t, c.EndpointFrom, row.from)
			assert.Equal(t, row.drv, c.Driver)
			assert.Equal(t, row.endpoint, d.first().dev.LinkConfig().Address)
		})
	}
}

func TestContactServiceURLsFollowTheRegion(t *testing.T) {
	d, err := New(contactConfig(t, "us-east", ""), testRegistry(t), nil)
	require.NoError(t, err)
	c := d.Contact()
	assert.Equal(t, "https://us-east.gateway.tencentdevices.com/register/dev", c.RegistrationURL)
	assert.Equal(t, "http://us-east.devicelog.iot.cloud.tencent.com/cgi-bin/report-log", c.LogUploadURL)
	assert.True(t, c.RegionConfirmed)
	assert.False(t, c.LogUpload, "log upload is off by default")

	d, err = New(contactConfig(t, "ap-bangkok", "registration: {url: 'https://reg.example/x'}\n"), testRegistry(t), nil)
	require.NoError(t, err)
	assert.Equal(t, "https://reg.example/x", d.Contact().RegistrationURL, "an explicit URL wins")
	assert.False(t, d.Contact().RegionConfirmed)
}

func TestRegionErrors(t *testing.T) {
	_, err := ParseConfig([]byte("region: mars\n"), "c.yaml", "")
	require.Error(t, err)
	assert.Equal(t, `c.yaml: region: unknown region "mars": the hub's regions are china, us-east, europe, ap-bangkok`, err.Error())

	_, err = New(contactConfig(t, "mars", ""), testRegistry(t), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown region "mars"`)
	assert.Contains(t, err.Error(), "device_info.json")

	_, err = New(contactConfig(t, "china", "region: europe\n"), testRegistry(t), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"europe", but`)
	assert.Contains(t, err.Error(), `says "china"`)
}

// The trust of the link: ca_file in the config, else the device's
// devCaFile, else the CAs bundled with iotd. Three CAs tell them apart:
// hubsim's (which signed its server certificate) and two others.
func TestTrustOrderAgainstHubsim(t *testing.T) {
	hub := startHub(t, nil)
	caFile := func(name string) string {
		ca, err := pki.NewCA(name)
		require.NoError(t, err)
		p := filepath.Join(t.TempDir(), name+".pem")
		require.NoError(t, os.WriteFile(p, ca.CertPEM, 0o600))
		return p
	}
	other, third := caFile("other CA"), caFile("third CA")

	// configure writes a config for a CERT device whose devCaFile is
	// devCA ("" keeps hubsim's), and ca_file when caFile is not "".
	n := 0
	configure := func(devCA, caFile string) *Config {
		n++
		dn := fmt.Sprintf("dev%d", n)
		dir := deviceDir(t, hub, "PTRUST0001", dn, true)
		if devCA != "" {
			p := filepath.Join(dir, "device_info.json")
			info, err := core.LoadDeviceInfo(p)
			require.NoError(t, err)
			info.CertDeviceInfo.DevCaFile = devCA
			require.NoError(t, core.SaveDeviceInfo(p, info))
		}
		y := fmt.Sprintf("device_info: device_info.json\nsocket: %s\nlink:\n  endpoint: %s\n  backoff: {initial: 50ms, max: 500ms}\n",
			filepath.Join(dir, "iotd.sock"), hub.TLSAddr())
		if caFile != "" {
			y += "  driver_config: {ca_file: " + caFile + "}\n"
		}
		p := filepath.Join(dir, "iotd.yaml")
		require.NoError(t, os.WriteFile(p, []byte(y), 0o600))
		cfg, err := LoadConfig(p)
		require.NoError(t, err)
		return cfg
	}

	t.Run("devCaFile when the config names none", func(t *testing.T) {
		r := startDaemon(t, configure("", ""))
		r.waitStatus(t, "connected", connected)
		assert.Contains(t, r.d.Contact().Trust.From, "devCaFile")
	})
	t.Run("ca_file in the config wins over devCaFile", func(t *testing.T) {
		r := startDaemon(t, configure(other, hub.CAFile()))
		r.waitStatus(t, "connected", connected)
		assert.Contains(t, r.d.Contact().Trust.From, "ca_file "+hub.CAFile())
	})
	t.Run("a wrong ca_file is not rescued by devCaFile", func(t *testing.T) {
		err := checkConnect(t, configure("", third))
		require.Error(t, err)
		assert.Contains(t, err.Error(), `signed by "CN=hubsim CA`)
	})
	t.Run("the bundle refuses a server it did not sign, and says so", func(t *testing.T) {
		cfg := configure("", "")
		// A KEY device has no devCaFile: its default is the bundle.
		dir := deviceDir(t, hub, "PTRUST0002", "key1", false)
		cfg.DeviceInfo = filepath.Join(dir, "device_info.json")
		r := startDaemon(t, cfg)
		assert.Equal(t, bundledHubTrust, r.d.Contact().Trust.From)
		assert.Len(t, r.d.Contact().Trust.Certs, 2)
		waitLog(t, r, "not from a Tencent IoT Hub CA bundled with iotd (tencent-iothub-ca-2017.pem, tencent-ca-2022.pem)")
		assert.False(t, hub.Status("PTRUST0002", "key1").Connected)
	})
}

func waitLog(t *testing.T, r *running, text string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(r.log.String(), text) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line with %q; logs:\n%s", text, r.log.String())
}

// iotd status warns a year before a trusted CA expires.
func TestTrustStatusWarnsAYearAhead(t *testing.T) {
	d, err := New(contactConfig(t, "", ""), testRegistry(t), nil)
	require.NoError(t, err)
	tr := d.Contact().Trust
	at := func(s string) time.Time { v, err := time.Parse(time.DateOnly, s); require.NoError(t, err); return v }

	ts := tr.Status(at("2026-12-03"))
	assert.Equal(t, bundledHubTrust, ts.From)
	require.Len(t, ts.CAs, 2)
	assert.Equal(t, "tencent-iothub-ca-2017.pem", ts.CAs[0].Bundled)
	assert.Equal(t, "2032-11-23", ts.CAs[0].NotAfter.Format(time.DateOnly))
	assert.Empty(t, ts.Warnings)

	ts = tr.Status(at("2031-12-01"))
	require.Len(t, ts.Warnings, 1)
	assert.Contains(t, ts.Warnings[0], `"CN=www.tencent.com,OU=Tencent Iothub,O=Tencent,L=ShenZhen,ST=GuangDong,C=CN" expires on 2032-11-23`)

	ts = tr.Status(at("2033-01-01"))
	require.Len(t, ts.Warnings, 1)
	assert.Contains(t, ts.Warnings[0], "expired on 2032-11-23")

	st := d.Status()
	assert.Equal(t, bundledHubTrust, st.Trust.From, "status carries the trust")
}

// On the websocket channel the carrier (tls for wss) trusts the bundled
// CAs and the system roots, and the websocket driver wraps it.
func TestWebSocketContactTrust(t *testing.T) {
	reg := testRegistry(t)
	require.NoError(t, reg.Register(websocket.NewIn(reg)))
	d, err := New(contactConfig(t, "", "channel: websocket\n"), reg, nil)
	require.NoError(t, err)
	c := d.Contact()
	assert.Equal(t, "tls", c.Carrier)
	assert.Equal(t, bundledWebTrust, c.Trust.From)
	assert.True(t, c.Trust.System)
	assert.Len(t, c.Trust.Certs, 5, "Tencent's and the public bundled CAs")
}
