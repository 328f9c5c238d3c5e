package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/bus"
	coapup "github.com/iotd/iotd/bus/coap"
	"github.com/iotd/iotd/conformance/peer"
	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/posix"
	"github.com/iotd/iotd/drivers/posix/dtls"
	"github.com/iotd/iotd/features/ota"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/localapi"
)

func coapRegistry(t *testing.T) *core.Registry {
	t.Helper()
	r := testRegistry(t)
	require.NoError(t, r.Register(posix.NewUDP()))
	require.NoError(t, r.Register(dtls.New()))
	return r
}

// coapConfigFor writes iotd.yaml for a daemon on the CoAP channel to
// endpoint (hubsim's DTLS address unless a relay sits between), with the
// dtls driver and its PSK left to their defaults, and extra YAML appended.
func coapConfigFor(t *testing.T, dir, endpoint, extra string) *Config {
	t.Helper()
	y := fmt.Sprintf(`device_info: device_info.json
socket: %s
channel: coap
link:
  endpoint: %s
  dial_timeout: 10s
  backoff: {initial: 50ms, max: 500ms}
%s`, filepath.Join(dir, "iotd.sock"), endpoint, extra)
	p := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(p, []byte(y), 0o600))
	cfg, err := LoadConfig(p)
	require.NoError(t, err)
	return cfg
}

func startCoAPDaemon(t *testing.T, cfg *Config) *running {
	t.Helper()
	return startDaemonIn(t, cfg, coapRegistry(t))
}

func pub(t *testing.T, r *running, topic, payload string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := r.client.Publish(ctx, localapi.PublishRequest{Topic: topic, Payload: payload, QoS: 1})
	return err
}

// delivered reports whether hub recorded payload from the device on topic.
func delivered(hub *hubsim.Hub, pid, dn, topic, payload string) bool {
	for _, m := range hub.Messages(pid, dn) {
		if m.Topic == topic && m.Payload == payload && !m.Denied {
			return true
		}
	}
	return false
}

func TestCoAPChannelThroughHubsim(t *testing.T) {
	hub := startHub(t, nil)
	const pid, dn = "PCOAP00001", "dev1"
	dir := deviceDir(t, hub, pid, dn, false)
	r := startCoAPDaemon(t, coapConfigFor(t, dir, hub.CoAPAddr(), "coap: {ack_timeout: 200ms}\n"))
	st := r.waitStatus(t, "the CoAP session", connected)
	assert.Equal(t, "coap", st.Channel)
	assert.Equal(t, "dtls", st.Link.Driver)
	require.NotNil(t, st.CoAP)
	assert.Greater(t, st.CoAP.TokenAge, time.Duration(0))
	assert.Equal(t, 1, strings.Count(r.log.String(), "features that need MQTT downlink are off: broadcast, gateway, rrpc, shadow, timesync"))

	topic := pid + "/" + dn + "/data"
	t.Run("publish", func(t *testing.T) {
		require.NoError(t, pub(t, r, "data", `{"n":1}`))
		assert.True(t, delivered(hub, pid, dn, topic, `{"n":1}`))
	})
	t.Run("token expiry", func(t *testing.T) {
		before := hub.CoAP().Stats().Unauthorized
		require.Equal(t, 1, hub.CoAP().ExpireTokens(hubsim.DeviceRef{ProductID: pid, DeviceName: dn}))
		require.NoError(t, pub(t, r, "data", `{"n":2}`))
		assert.True(t, delivered(hub, pid, dn, topic, `{"n":2}`))
		assert.Equal(t, before+1, hub.CoAP().Stats().Unauthorized)
		st := r.waitStatus(t, "status", connected)
		assert.Equal(t, int64(1), st.CoAP.Counters.Reauths)
	})
	t.Run("separate response", func(t *testing.T) {
		hub.CoAP().SetSeparate(true)
		defer hub.CoAP().SetSeparate(false)
		require.NoError(t, pub(t, r, "data", `{"n":3}`))
		assert.True(t, delivered(hub, pid, dn, topic, `{"n":3}`))

		// With need-response "1" the 2.05 follows as a separate CON.
		before := hub.CoAP().Stats().Separate
		m := message.NewMessage(watermill.NewUUID(), []byte(`{"n":5}`))
		m.Metadata.Set(bus.MetaTopic, topic)
		m.Metadata.Set(coapup.MetaNeedResponse, "1")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := r.d.Bus().Request(ctx, bus.TopicUplinkPublish, m)
		require.NoError(t, err)
		assert.True(t, delivered(hub, pid, dn, topic, `{"n":5}`))
		assert.Equal(t, before+1, hub.CoAP().Stats().Separate)
		st := r.waitStatus(t, "status", connected)
		assert.Equal(t, int64(1), st.CoAP.Counters.Separate)
	})
	t.Run("oversize refused", func(t *testing.T) {
		err := pub(t, r, "data", strings.Repeat("x", 1100))
		require.Error(t, err)
		assert.Regexp(t, `coap: message too large: POST `+topic+`: the message is \d+ bytes \(payload 1100 plus \d+ of header and options\); the limit is 1024 \(coap\.max_payload\)`, err.Error())
		require.NoError(t, pub(t, r, "data", `{"n":4}`), "the channel keeps working")
	})
	t.Run("forbidden topic", func(t *testing.T) {
		err := pub(t, r, "$shadow/operation/OTHERPID00/dev1", "{}")
		require.Error(t, err, "refused locally, as on MQTT")
	})
	t.Run("subscribe refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := localapi.Each(r.client.Subscribe(ctx, "control", 0), func(localapi.Message) error { return nil })
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the CoAP channel has no downlink")
	})
}

// A lossy relay (seeded, both directions) drops requests and responses;
// confirmable retransmission delivers every message anyway, and the
// retransmissions show in the status.
func TestCoAPRecoversThroughLossyRelay(t *testing.T) {
	hub := startHub(t, nil)
	const pid, dn = "PCOAPLOSS1", "dev1"
	dir := deviceDir(t, hub, pid, dn, false)
	relay, err := peer.NewRelay(hub.CoAPAddr(), peer.Faults{Loss: 0.25, Duplicate: 0.1, Seed: 8})
	require.NoError(t, err)
	t.Cleanup(func() { _ = relay.Close() })
	r := startCoAPDaemon(t, coapConfigFor(t, dir, relay.Addr(), "coap: {ack_timeout: 100ms, max_retransmit: 8}\n"))
	r.waitStatus(t, "the CoAP session", connected)
	const n = 12
	for i := range n {
		require.NoError(t, pub(t, r, "data", fmt.Sprintf(`{"i":%d}`, i)))
	}
	for i := range n {
		assert.True(t, delivered(hub, pid, dn, pid+"/"+dn+"/data", fmt.Sprintf(`{"i":%d}`, i)), "message %d", i)
	}
	st := r.waitStatus(t, "status", func(localapi.Status) bool { return true })
	require.NotNil(t, st.CoAP)
	assert.Greater(t, st.CoAP.Counters.Retransmissions, int64(0))
}

// OTA over CoAP: the update pushed by hubsim comes back as the answer to a
// report_version (sent again by ota_poll), the firmware is downloaded over
// HTTPS as usual, and progress and done are reported over CoAP.
func TestCoAPOTA(t *testing.T) {
	hub := startHub(t, nil)
	const pid, dn = "PCOAPOTA01", "dev1"
	dir := deviceDir(t, hub, pid, dn, false)
	r := startCoAPDaemon(t, coapConfigFor(t, dir, hub.CoAPAddr(), fmt.Sprintf(`coap: {ack_timeout: 200ms, ota_poll: 200ms}
state_dir: state
features:
  ota:
    version: 1.0.0
    ca_file: %s
`, hub.CAFile())))
	ref := hubsim.DeviceRef{ProductID: pid, DeviceName: dn}
	require.Eventually(t, func() bool { return hub.OTA().DeviceStatus(ref).Version == "1.0.0" }, 20*time.Second, 20*time.Millisecond)

	data := make([]byte, 256<<10)
	_, err := rand.Read(data)
	require.NoError(t, err)
	fw, err := hub.OTA().Upload("", "1.1.0", data)
	require.NoError(t, err)
	_, err = hub.OTA().Push(ref, hubsim.OTAPushRequest{Firmware: fw.Name})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return hub.OTA().DeviceStatus(ref).Version == "1.1.0" }, 30*time.Second, 20*time.Millisecond,
		"logs:\n%s", r.log.String())

	var states []string
	for _, rep := range hub.OTA().DeviceStatus(ref).Reports {
		states = append(states, rep.State)
	}
	assert.Contains(t, states, "downloading")
	assert.Contains(t, states, "done")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.client.OTA(ctx)
	require.NoError(t, err)
	assert.Equal(t, "1.1.0", st.Version)
	assert.Equal(t, ota.StateDone, st.State)
}

func TestCoAPLinkDefaults(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PCOAPDEF01", "dev1", false)
	rows := []struct {
		name       string
		yaml       string
		wantDriver string
		wantAddr   string
		wantErr    string
	}{
		{"defaults", "channel: coap\n", "dtls", "PCOAPDEF01.iotcloud.tencentdevices.com:5684", ""},
		{"plain udp", "channel: coap\nlink: {driver: udp, endpoint: 127.0.0.1:5683}\n", "udp", "127.0.0.1:5683", ""},
		{"stream driver", "channel: coap\nlink: {driver: tls}\n", "", "",
			`config: link.driver: driver "tls" offers no datagram transport; the CoAP channel needs one (dtls or udp)`},
		{"mqtt over a datagram driver", "link: {driver: dtls}\n", "", "",
			`config: link.driver: driver "dtls" offers no stream transport; MQTT needs one (for CoAP set channel: coap)`},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			p := filepath.Join(dir, "iotd.yaml")
			require.NoError(t, os.WriteFile(p, []byte("device_info: device_info.json\n"+row.yaml), 0o600))
			cfg, err := LoadConfig(p)
			require.NoError(t, err)
			d, err := New(cfg, coapRegistry(t), nil)
			if row.wantErr != "" {
				require.Error(t, err)
				assert.Equal(t, row.wantErr, err.Error())
				return
			}
			require.NoError(t, err)
			t.Cleanup(func() { _ = d.Bus().Close() })
			assert.Equal(t, row.wantDriver, d.first().dev.LinkConfig().Driver)
			assert.Equal(t, row.wantAddr, d.first().dev.LinkConfig().Address)
			assert.NotNil(t, d.Status().CoAP, "the CoAP uplink")
			assert.Nil(t, d.Status().Queue, "no MQTT uplink")
		})
	}
}

// The publish stream over the CoAP channel, whose uplink takes requests
// on the bus (it is no bus.Submitter): each line is answered, and the hub
// gets the messages in line order.
func TestCoAPPublishStream(t *testing.T) {
	hub := startHub(t, nil)
	const pid, dn = "PCOAPSTR01", "dev1"
	dir := deviceDir(t, hub, pid, dn, false)
	r := startCoAPDaemon(t, coapConfigFor(t, dir, hub.CoAPAddr(), "coap: {ack_timeout: 200ms}\n"))
	r.waitStatus(t, "the CoAP session", connected)
	require.Nil(t, r.d.first().dev.Bus().Submitter(), "the CoAP uplink takes the bus path")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, results := rawStream(t, ctx, r.d.cfg.SocketPath(), localapi.PathPublishStream)
	go func() {
		for i := range 5 {
			_, _ = fmt.Fprintf(w, `{"topic":"data","payload":"s%d","qos":1}`+"\n", i)
		}
		_ = w.Close()
	}()
	n := 0
	for res := range results {
		assert.Equal(t, localapi.Acknowledged, res.Result, "line %d: %s", res.Line, res.Error)
		n++
	}
	assert.Equal(t, 5, n)
	var got []string
	for _, m := range hub.Messages(pid, dn) {
		if m.Topic == pid+"/"+dn+"/data" && !m.Denied {
			got = append(got, m.Payload)
		}
	}
	assert.Equal(t, []string{"s0", "s1", "s2", "s3", "s4"}, got)
}
