package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/device"
	"github.com/iotd/iotd/drivers/at/atsim"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/localapi"
)

// tencentConfig writes iotd.yaml for channel at-tencent on the module at
// port, for device pid/"tc1" of hub, and loads it.
func tencentConfig(t *testing.T, hub *hubsim.Hub, pid, port string) *Config {
	t.Helper()
	dir := deviceDir(t, hub, pid, "tc1", false)
	y := fmt.Sprintf(`device_info: device_info.json
socket: %s
channel: at-tencent
at_tencent: {port: %s, ssid: lab, wifi_password: wifi-pw-secret, command_timeout: 2s, mqtt_timeout: 2s}
link:
  backoff: {initial: 50ms, max: 500ms}
`, filepath.Join(dir, "iotd.sock"), port)
	p := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(p, []byte(y), 0o600))
	cfg, err := LoadConfig(p)
	require.NoError(t, err)
	return cfg
}

// startTencentModem starts atsim's tencent personality on a pty, its MQTT
// client pointed at hub's TLS port and trusting hubsim's CA.
func startTencentModem(t *testing.T, hub *hubsim.Hub, dialect string) *atsim.Modem {
	t.Helper()
	cas, err := hubtest.CAPool(hub)
	require.NoError(t, err)
	m, err := atsim.Start(context.Background(), atsim.Config{Dialect: dialect, Seed: 5,
		Tencent: atsim.TencentConfig{Broker: hub.TLSAddr(), RootCAs: cas}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// iotd on a module with Tencent's AT firmware: the module is the MQTT
// client, iotd drives it over the pty. Time sync, publishes at QoS 0 and
// 1, a subscription fed by hubsim's admin API and the shadow work through
// it; OTA goes through the module (attencent_ota_test.go); after the module loses Wi-Fi (it
// reports the disconnect) and after it reboots, the session comes back.
func TestDaemonOverTencentModule(t *testing.T) {
	hub := startHub(t, nil)
	modem := startTencentModem(t, hub, atsim.DialectTencent)
	const pid = "PTC0000001"
	cfg := tencentConfig(t, hub, pid, modem.Path())
	r := startDaemon(t, cfg)

	st := r.waitStatus(t, "clock sync through the module", func(st localapi.Status) bool { return connected(st) && !st.LastSync.IsZero() })
	assert.Equal(t, "at-tencent", st.Link.Driver)
	assert.Equal(t, device.ChannelATTencent, st.Channel)
	assert.Contains(t, r.log.String(), "OTA ready: the module downloads, iotd installs")
	assert.NotContains(t, r.log.String(), "features that need the host's own network are off")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	publish := func(payload string, qos int) {
		t.Helper()
		rep, err := r.client.Publish(ctx, localapi.PublishRequest{Topic: "event", Payload: payload, QoS: qos})
		require.NoError(t, err)
		require.Equal(t, localapi.Acknowledged, rep.Result)
		require.Eventually(t, func() bool {
			for _, m := range hub.Messages(pid, "tc1") {
				if m.Topic == rep.Topic && m.Payload == payload {
					return true
				}
			}
			return false
		}, 10*time.Second, 20*time.Millisecond)
	}
	publish(`{"qos":0,"note":"a, b"}`, 0)
	publish(`{"qos":1}`, 1)

	msgs, _ := r.stream(t, "control")
	r.waitStatus(t, "subscribed", hasSub(pid+"/tc1/control"))
	// iotd records a subscription at once and the module makes it in turn
	// (after AT+TCOTASET, say): a message sent before then is lost.
	hubHolds := func() bool { return slices.Contains(hub.Status(pid, "tc1").Subscriptions, pid+"/tc1/control") }
	require.Eventually(t, hubHolds, 10*time.Second, 20*time.Millisecond)
	adminPublish := func(payload string) {
		t.Helper()
		url := fmt.Sprintf("%s/devices/%s/tc1/publish?topic=control&qos=1", hub.AdminURL(), pid)
		resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(payload)))
		require.NoError(t, err)
		resp.Body.Close()
		require.Less(t, resp.StatusCode, 300)
		select {
		case m := <-msgs:
			assert.Equal(t, payload, m.Payload)
		case <-ctx.Done():
			t.Fatal("the message sent by hubsim's admin API did not arrive")
		}
	}
	adminPublish(`{"cmd":"on","quote":"\"x\""}`)

	doc, err := r.client.ShadowReport(ctx, localapi.ShadowReport{Reported: map[string]json.RawMessage{"mode": json.RawMessage(`"eco"`)}})
	require.NoError(t, err)
	assert.JSONEq(t, `"eco"`, string(doc.Reported["mode"]))
	doc, err = r.client.ShadowGet(ctx)
	require.NoError(t, err)
	assert.JSONEq(t, `"eco"`, string(doc.Reported["mode"]))

	// Wi-Fi goes: the module reports it and the lost connection; iotd
	// joins again and brings the session back.
	before := r.waitStatus(t, "connected", connected).Link.Since
	require.NoError(t, modem.Inject(atsim.Fault{Kind: atsim.BearerLoss}))
	r.waitStatus(t, "back after the Wi-Fi loss", func(st localapi.Status) bool { return connected(st) && st.Link.Since.After(before) })
	publish(`{"after":"wifi"}`, 1)

	// The module reboots mid-session: its client is gone; iotd brings it
	// up again and subscribes again.
	before = r.waitStatus(t, "connected", connected).Link.Since
	modem.Reboot()
	r.waitStatus(t, "back after the reboot", func(st localapi.Status) bool { return connected(st) && st.Link.Since.After(before) })
	publish(`{"after":"reboot"}`, 1)
	r.waitStatus(t, "subscribed again", hasSub(pid+"/tc1/control"))
	require.Eventually(t, hubHolds, 10*time.Second, 20*time.Millisecond)
	adminPublish(`{"cmd":"again"}`)

	logs := r.log.String()
	assert.Contains(t, logs, "rebooted")
	assert.NotContains(t, logs, "wifi-pw-secret", "the Wi-Fi password is never logged")
	dev, err := core.LoadDeviceInfo(cfg.DeviceInfoPath())
	require.NoError(t, err)
	assert.NotContains(t, logs, dev.KeyDeviceInfo.DeviceSecret, "the device secret is never logged")
}

// A module without Tencent's firmware (a Quectel answers ERROR to
// AT+TCMODULE): the check says so and how to fix it.
func TestDaemonTencentChannelWithoutTCFirmware(t *testing.T) {
	hub := startHub(t, nil)
	modem := startTencentModem(t, hub, atsim.DialectQuectel)
	err := checkConnect(t, tencentConfig(t, hub, "PTC0000002", modem.Path()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not run Tencent's AT firmware")
	assert.Contains(t, err.Error(), "flash the QCloud AT firmware")
}

// A certificate device cannot use the channel: refused at start, saying why.
func TestDaemonTencentChannelRefusesCertDevices(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PTC0000003", "cert1", true)
	y := fmt.Sprintf("device_info: device_info.json\nsocket: %s\nchannel: at-tencent\nat_tencent: {port: /dev/null}\n", filepath.Join(dir, "iotd.sock"))
	p := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(p, []byte(y), 0o600))
	cfg, err := LoadConfig(p)
	require.NoError(t, err)
	_, err = New(cfg, testRegistry(t), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate device cannot use channel at-tencent")
}
