package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/iotd/iotd/features/timesync"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/device"
)

func TestSampleDecodesStrictly(t *testing.T) {
	cfg, err := ParseConfig([]byte(Sample), "iotd.sample.yaml", "/etc/iotd")
	require.NoError(t, err)
	assert.Equal(t, "tls", cfg.Link.Driver)
	assert.Equal(t, 240*time.Second, cfg.MQTT.KeepAlive)
	assert.Equal(t, 15*time.Second, cfg.Link.DialTimeout)
	assert.Equal(t, "/etc/iotd/device_info.json", cfg.DeviceInfoPath())
	assert.Equal(t, time.Hour, cfg.Features["timesync"].(*timesync.Config).Interval)
	assert.Equal(t, false, cfg.Link.DriverConfig["insecure_skip_verify"])
	assert.Equal(t, "mqtt", cfg.Channel)
	assert.Equal(t, 2*time.Second, cfg.CoAP.AckTimeout)
	assert.Equal(t, 4, cfg.CoAP.MaxRetransmit)
	assert.Equal(t, 1024, cfg.CoAP.MaxPayload)
	assert.Equal(t, 100, cfg.CoAP.QueueSize)
}

func TestChannelConfig(t *testing.T) {
	rows := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"coap", "channel: coap\ncoap: {ack_timeout: 1s, max_retransmit: 3, need_response: true}\n", ""},
		{"unknown channel", "channel: http\n", `c.yaml: channel: "http": use mqtt, websocket, coap or at-tencent`},
		{"bad coap value", "coap: {max_retransmit: 50}\n", "c.yaml: coap.max_retransmit: 50 is out of range; use 1 to 20 (default 4)"},
		{"unknown coap key", "coap: {ack: 1s}\n", `c.yaml: line 1: unknown key "ack"`},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(row.yaml), "c.yaml", "/x")
			if row.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, row.wantErr, err.Error())
		})
	}
}

func TestEmptyConfigIsValid(t *testing.T) {
	cfg, err := ParseConfig(nil, "empty.yaml", "/x")
	require.NoError(t, err)
	assert.Equal(t, "/x/device_info.json", cfg.DeviceInfoPath())
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", "device_infoo: x\n", `iotd.yaml: line 1: unknown key "device_infoo"`},
		{"unknown nested key", "mqtt:\n  keepalive: 60s\n  keep_alive: 60s\n", `line 3: unknown key "keep_alive"`},
		{"bad duration", "mqtt:\n  keepalive: soon\n", "iotd.yaml"},
		{"keepalive over the hub limit", "mqtt:\n  keepalive: 700s\n", "iotd.yaml: mqtt.keepalive: must be between 0 and 690s"},
		{"sign method", "mqtt:\n  sign_method: md5\n", `mqtt.sign_method: "md5": use hmacsha1 or hmacsha256`},
		{"log level", "log:\n  level: loud\n", `log.level: "loud"`},
		{"not yaml", "link: [\n", "iotd.yaml"},
		{"timesync", "features:\n  timesync:\n    interval: 1ms\n", "features.timesync"},
		{"driver name", "drivers:\n  \"at quectel\": {port: /dev/ttyUSB2}\n", `drivers: "at quectel" is not a driver name`},
		{"plugin pin", "plugins:\n  dir: p\n  pins: {iotd-driver-x: abc}\n", "plugins.pins.iotd-driver-x: must be a SHA-256 in hex"},
		{"plugin pin key", "plugins:\n  pins: {acme: abc}\n", `plugins.pins: "acme": keys are plugin file names`},
		{"require pins without dir", "plugins:\n  require_pins: true\n", "plugins.require_pins: set plugins.dir too"},
		{"plugin env", "plugins:\n  env: [NOEQUALS]\n", `plugins.env: "NOEQUALS": use NAME=value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml), "iotd.yaml", "/x")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "\n", "errors are one line")
			assert.Equal(t, core.ClassInvalidConfig, core.ClassOf(err))
		})
	}
}

func TestLoadConfigResolvesRelativeToFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "iotd.yaml")
	require.NoError(t, os.WriteFile(p, []byte("device_info: dev/info.json\nsocket: api.sock\n"), 0o600))
	cfg, err := LoadConfig(p)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "dev/info.json"), cfg.DeviceInfoPath())
	assert.Equal(t, filepath.Join(dir, "api.sock"), cfg.SocketPath())

	_, err = LoadConfig(filepath.Join(dir, "missing.yaml"))
	assert.ErrorContains(t, err, "missing.yaml")
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(Sample))
	f.Add([]byte("link: {driver: tcp}\n"))
	f.Add([]byte("channel: coap\ncoap: {ack_timeout: 1s, max_retransmit: 3, ota_poll: -1s}\n"))
	f.Add([]byte("mqtt:\n  keepalive: -1s\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b, "f.yaml", "/x")
		if err == nil {
			require.NoError(t, cfg.Validate())
			return
		}
		// Every refusal names its source, the file.
		var ce *core.ConfigError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "f.yaml", ce.Source, err.Error())
		require.NotContains(t, err.Error(), "struct {")
	})
}

func TestTopicRules(t *testing.T) {
	tests := []struct {
		topic  string
		filter bool
		ok     bool
	}{
		{"P1/d1/event", false, true},
		{"P1/d1/a/b", false, true},
		{"P1/d1/+", true, true},
		{"P1/d1/+", false, false},
		{"P1/d2/event", false, false},
		{"P2/d1/event", false, false},
		{"P1/d1", false, false},
		{"$shadow/operation/P1/d1", false, true},
		{"$rrpc/txd/P1/d1/123", false, true},
		{"$rrpc/rxd/P1/d1/+", true, true},
		{"$shadow/operation/P1/d2", false, false},
		{"$sys/operation/result/P2/d1", true, false},
		{"", false, false},
		{"P1/d1/a+", true, false},
		{"P1/d1/#/x", true, false},
		{"P1/d1/#", true, true},
	}
	for _, tt := range tests {
		err := device.CheckTopic(tt.topic, "P1", "d1", tt.filter)
		if tt.ok {
			assert.NoError(t, err, tt.topic)
		} else {
			assert.Error(t, err, tt.topic)
		}
	}
	assert.Equal(t, "P1/d1/event", device.ExpandTopic("event", "P1", "d1"))
	assert.Equal(t, "x/y", device.ExpandTopic("x/y", "P1", "d1"))
	assert.Equal(t, "$x", device.ExpandTopic("$x", "P1", "d1"))
}

func TestMQTTSessionConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(Sample), "iotd.sample.yaml", "/etc/iotd")
	require.NoError(t, err)
	require.NotNil(t, cfg.MQTT.CleanSession, "the sample names clean_session")
	assert.True(t, *cfg.MQTT.CleanSession)
	assert.Equal(t, 20, cfg.MQTT.MaxInflight)

	empty, err := ParseConfig(nil, "empty.yaml", "/x")
	require.NoError(t, err)
	assert.Nil(t, empty.MQTT.CleanSession, "unset: the uplink's default (true)")
	assert.Zero(t, empty.MQTT.MaxInflight, "unset: the uplink's default (20)")

	rows := []struct {
		name, yaml, wantErr string
	}{
		{"persistent session", "mqtt: {clean_session: false, max_inflight: 100, keepalive: 60s}\n", ""},
		{"max_inflight at the top", "mqtt: {max_inflight: 65535}\n", ""},
		{"max_inflight over", "mqtt: {max_inflight: 65536}\n", "c.yaml: mqtt.max_inflight: 65536 is out of range: use 1 to 65535 (default 20)"},
		{"max_inflight negative", "mqtt: {max_inflight: -1}\n", "c.yaml: mqtt.max_inflight: -1 is out of range: use 1 to 65535 (default 20)"},
		{"clean_session not a bool", "mqtt: {clean_session: sometimes}\n", "c.yaml: line 1: cannot unmarshal !!str `sometimes` into bool"},
		{"keepalive below a second", "mqtt: {keepalive: 500ms}\n", "c.yaml: mqtt.keepalive: 500ms is below MQTT's 1 s resolution; use e.g. 240s"},
		{"keepalive over", "mqtt: {keepalive: 691s}\n", "c.yaml: mqtt.keepalive: must be between 0 and 690s (the hub's limit)"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(row.yaml), "c.yaml", "/x")
			if row.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, row.wantErr, err.Error())
		})
	}
}
