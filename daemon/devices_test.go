package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/feature"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/internal/testlog"
	"github.com/iotd/iotd/localapi"
)

// indent indents every line of text by n spaces.
func indent(text string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// multiDevice is a device of a test's devices: section.
type multiDevice struct {
	name, pid, dn string
	extra         string // more of its section's YAML, unindented
}

// multiConfig writes a configuration of several devices, created in hub,
// each with its own device_info.json, over TLS to hub; top is YAML for the
// top level.
func multiConfig(t *testing.T, hub *hubsim.Hub, top string, devs ...multiDevice) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	y := "socket: " + filepath.Join(dir, "iotd.sock") + "\n" + top + "devices:\n"
	for _, d := range devs {
		src := deviceDir(t, hub, d.pid, d.dn, false)
		info := filepath.Join(dir, d.name+".json")
		b, err := os.ReadFile(filepath.Join(src, "device_info.json"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(info, b, 0o600))
		y += "  " + d.name + ":\n" + indent("device_info: "+d.name+".json\n"+hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile())+d.extra, 4)
	}
	cfg, err := LoadConfig(hubtest.WriteConfig(t, dir, y))
	require.NoError(t, err, "config:\n%s", y)
	return cfg, dir
}

// eventually polls cond until it holds, for at most 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Three devices in one daemon over one hub: each connects as itself with
// its own features and state; a publish for one reaches the hub as that
// device only; the unprefixed paths refuse to guess.
func TestSeveralDevicesInOneDaemon(t *testing.T) {
	hub := startHub(t, nil)
	cfg, dir := multiConfig(t, hub, "log: {level: debug}\n",
		multiDevice{name: "a", pid: "PMULTI0001", dn: "dev-a", extra: "features: {rrpc: {disabled: true}}\n"},
		multiDevice{name: "b", pid: "PMULTI0001", dn: "dev-b"},
		multiDevice{name: "c", pid: "PMULTI0002", dn: "dev-c", extra: "state_dir: c-state\n"})
	r := startDaemon(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ids := map[string][2]string{"a": {"PMULTI0001", "dev-a"}, "b": {"PMULTI0001", "dev-b"}, "c": {"PMULTI0002", "dev-c"}}
	for name, id := range ids {
		c := r.client.ForDevice(name)
		eventually(t, name+" connected", func() bool {
			st, err := c.Status(ctx)
			return err == nil && connected(st)
		})
		st, err := c.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, id, [2]string{st.ProductID, st.Device}, "device %s connects as itself", name)
		assert.True(t, hub.Status(id[0], id[1]).Connected, "the hub has %s connected", name)
	}
	// Each its own features and state.
	assert.NotContains(t, r.d.Unit("a").Contact().Features, "rrpc", "rrpc is off for a only")
	assert.Contains(t, r.d.Unit("b").Contact().Features, "rrpc")
	assert.Equal(t, filepath.Join(dir, "iotd-state", "a"), r.d.Unit("a").Config().StateDirPath())
	assert.Equal(t, filepath.Join(dir, "c-state"), r.d.Unit("c").Config().StateDirPath())
	// Each device's log lines carry its name.
	assert.Contains(t, r.log.String(), `msg="device starting" device=b`)

	devs, err := r.client.Devices(ctx)
	require.NoError(t, err)
	require.Len(t, devs, 3)
	for i, name := range []string{"a", "b", "c"} {
		assert.Equal(t, name, devs[i].Name)
		assert.Equal(t, ids[name], [2]string{devs[i].ProductID, devs[i].DeviceName})
		assert.Equal(t, "mqtt", devs[i].Channel)
	}
	// Devices ignores the client's device.
	again, err := r.client.ForDevice("b").Devices(ctx)
	require.NoError(t, err)
	assert.Equal(t, devs[0].Name, again[0].Name)

	// A publish for b reaches the hub as b, and only b.
	rep, err := r.client.ForDevice("b").Publish(ctx, localapi.PublishRequest{Topic: "event", Payload: "from b", QoS: 1})
	require.NoError(t, err)
	assert.Equal(t, localapi.Acknowledged, rep.Result)
	assert.Equal(t, "PMULTI0001/dev-b/event", rep.Topic)
	eventually(t, "b's message at the hub", func() bool {
		return slices.ContainsFunc(hub.Messages("PMULTI0001", "dev-b"), func(m hubsim.Record) bool {
			return m.Topic == "PMULTI0001/dev-b/event" && m.Payload == "from b" && !m.Denied
		})
	})
	for _, other := range [][2]string{ids["a"], ids["c"]} {
		for _, m := range hub.Messages(other[0], other[1]) {
			assert.NotEqual(t, "from b", m.Payload, "b's message went out as %s", other)
		}
	}
	// b may not publish on a's topic: the device's own checks hold.
	_, err = r.client.ForDevice("b").Publish(ctx, localapi.PublishRequest{Topic: "PMULTI0001/dev-a/event", Payload: "x"})
	var apiErr *localapi.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 403, apiErr.StatusCode)

	// The unprefixed paths refuse to guess, and say how to pick.
	_, err = r.client.Status(ctx)
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 400, apiErr.StatusCode)
	assert.Contains(t, apiErr.Message, "a, b, c")
	assert.Contains(t, apiErr.Message, "--device")
	_, err = r.client.Publish(ctx, localapi.PublishRequest{Topic: "event", Payload: "whose?"})
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 400, apiErr.StatusCode)
	// The daemon's own paths answer unprefixed: the devices share the
	// drivers.
	_, err = r.client.Drivers(ctx)
	require.NoError(t, err)
	// An unknown device is named.
	_, err = r.client.ForDevice("d").Status(ctx)
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 404, apiErr.StatusCode)
	assert.Contains(t, apiErr.Message, `no device "d"`)

	// A device's path with a value in it reaches the device's route.
	err = r.client.ForDevice("c").OutboxRetry(ctx, "nope")
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 404, apiErr.StatusCode, "the outbox route of c answered: %v", err)
}

// failSection is the section of the test feature "testfail", off unless
// enabled: when on, its Run fails at once.
type failSection struct {
	On bool `yaml:"enabled"`
}

func (s *failSection) Enabled() bool   { return s.On }
func (s *failSection) Disable()        { s.On = false }
func (s *failSection) Validate() error { return nil }

type failingFeature struct{ on bool }

func (f failingFeature) Run(ctx context.Context) error {
	if !f.on {
		<-ctx.Done() // a disabled feature waits
		return nil
	}
	return errors.New("deliberate failure")
}

func init() {
	feature.Register(feature.Module{
		Name:   "testfail",
		Config: func() feature.Section { return &failSection{} },
		New: func(sec feature.Section, _ *feature.Env) (feature.Feature, error) {
			return failingFeature{on: sec.Enabled()}, nil
		},
	})
}

// A device whose Run fails stops the daemon with an error naming it.
func TestSeveralDevicesOneFailsStopsTheDaemon(t *testing.T) {
	hub := startHub(t, nil)
	cfg, _ := multiConfig(t, hub, "",
		multiDevice{name: "a", pid: "PMULTI0003", dn: "a"},
		multiDevice{name: "b", pid: "PMULTI0003", dn: "b", extra: "features: {testfail: {enabled: true}}\n"})
	logs := &testlog.Buffer{}
	d, err := New(cfg, testRegistry(t), slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Equal(t, "device b: testfail: deliberate failure", err.Error())
		assert.Contains(t, logs.String(), "device stopped: stopping the daemon")
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon kept running with a failed device")
	}
}

// A configuration without devices: runs one device named "default", at
// the unprefixed paths and under /v1/devices/default.
func TestOneDeviceIsDefault(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PMULTI0004", "one", false)
	r := startDaemon(t, configFor(t, hub, dir, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	devs, err := r.client.Devices(ctx)
	require.NoError(t, err)
	require.Len(t, devs, 1)
	assert.Equal(t, DefaultDeviceName, devs[0].Name)
	st, err := r.client.ForDevice(DefaultDeviceName).Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "one", st.Device)
	st, err = r.client.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "one", st.Device)
	assert.NotContains(t, r.log.String(), "device=default", "one device's log lines are as they were")
}

func TestDevicesConfigErrors(t *testing.T) {
	rows := []struct {
		name, yaml string
		want       []string
	}{
		{"device key beside devices", "socket: s\nchannel: mqtt\ndevices:\n  a: {device_info: a.json}\n",
			[]string{"iotd.yaml: channel: line 2: a device's key beside devices:", "devices.NAME.channel"}},
		{"features beside devices", "devices:\n  a: {device_info: a.json}\nfeatures: {rrpc: {disabled: true}}\n",
			[]string{"features: line 3"}},
		{"unknown top-level key", "devices:\n  a: {device_info: a.json}\nbogus: 1\n",
			[]string{`line 3: unknown key "bogus"`}},
		{"unknown device key", "devices:\n  a:\n    device_info: a.json\n    bogus: 1\n",
			[]string{"devices.a", `line 4: unknown key "bogus"`}},
		{"unknown feature key", "devices:\n  a:\n    features:\n      rrpc: {bogus: 1}\n",
			[]string{"devices.a", `line 4: unknown key "bogus"`}},
		{"bad device value", "devices:\n  a:\n    mqtt: {keepalive: 1000s}\n",
			[]string{"devices.a.mqtt.keepalive", "690s"}},
		{"bad name", "devices:\n  a: {device_info: a.json}\n  Big!: {device_info: b.json}\n",
			[]string{"devices: line 3:", `"Big!" is not a device name`}},
		{"name too long", "devices:\n  " + strings.Repeat("x", 33) + ": {}\n",
			[]string{"is not a device name"}},
		{"no devices", "devices: {}\n", []string{"devices: line 1", "at least one"}},
		{"devices not a mapping", "devices: [a, b]\n", []string{"devices: line 1"}},
		{"shared state_dir", "devices:\n  a: {device_info: a.json, state_dir: st}\n  b:\n    device_info: b.json\n    state_dir: ./st\n",
			[]string{"devices.b.state_dir: line 5: devices a and b share the state directory"}},
		{"nested state_dir", "devices:\n  a: {device_info: a.json, state_dir: iotd-state}\n  b: {device_info: b.json}\n",
			[]string{"devices.b.state_dir", "nest"}},
		{"shared device_info", "devices:\n  a: {device_info: same.json}\n  b:\n    device_info: same.json\n",
			[]string{"devices.b.device_info: line 4: devices a and b are the same device"}},
		{"shared default device_info", "devices:\n  a: {}\n  b: {}\n",
			[]string{"devices.b.device_info: line 3: devices a and b are the same device", "device_info.json"}},
		{"shared NATS subjects", "devices:\n  a: {device_info: a.json, bus: {backend: nats, url: 'nats://GW:4222'}}\n  b:\n    device_info: b.json\n    bus: {backend: nats, url: 'other:4222, gw'}\n",
			[]string{"devices.b.bus.subject_prefix: line 5: devices a and b share the NATS server gw:4222 and their subjects (bus.subject_prefix iotd and iotd)"}},
		{"nested NATS subjects", "devices:\n  a: {device_info: a.json, bus: {backend: nats, url: 'nats://u:secret@gw', subject_prefix: iotd}}\n  b: {device_info: b.json, bus: {backend: nats, url: gw, subject_prefix: iotd.b}}\n",
			[]string{"devices.b.bus.subject_prefix", "devices a and b share the NATS server gw:4222", "neither inside the other"}},
		{"shared outbox stream", "devices:\n  a: {device_info: a.json, bus: {backend: nats, url: gw, subject_prefix: iotd.a}, outbox: {backend: jetstream, stream: OB}}\n  b:\n    device_info: b.json\n    bus: {backend: nats, url: gw, subject_prefix: iotd.b}\n    outbox: {backend: jetstream, stream: OB}\n",
			[]string{"devices.b.outbox.stream: line 6: devices a and b share the NATS server gw:4222 and the outbox stream OB"}},
		{"jetstream outbox without the NATS bus", "outbox: {backend: jetstream}\n",
			[]string{"outbox.backend", "set bus.backend: nats", "-tags iotd_nats"}},
		{"jetstream outbox with a sync policy", "bus: {backend: nats, url: gw}\noutbox: {backend: jetstream, sync: always}\n",
			[]string{"outbox.sync", "stream acknowledged it"}},
		{"outbox stream without jetstream", "outbox: {stream: OB}\n",
			[]string{"outbox.stream", "backend: jetstream"}},
		{"unknown outbox backend", "outbox: {backend: s3}\n",
			[]string{"outbox.backend", "file (the default) or jetstream"}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(row.yaml), "iotd.yaml", "/etc/iotd")
			require.Error(t, err)
			for _, w := range row.want {
				assert.Contains(t, err.Error(), w)
			}
			var ce *core.ConfigError
			assert.ErrorAs(t, err, &ce)
		})
	}
}

// TestDevicesOnOneNATSServer: devices may share a NATS server with a
// subject prefix and an outbox stream each (the default stream follows the
// prefix).
func TestDevicesOnOneNATSServer(t *testing.T) {
	cfg, err := ParseConfig([]byte("devices:\n"+
		"  a: {device_info: a.json, bus: {backend: nats, url: gw, subject_prefix: iotd.a}, outbox: {backend: jetstream}}\n"+
		"  b: {device_info: b.json, bus: {backend: nats, url: gw, subject_prefix: iotd.b}, outbox: {backend: jetstream}}\n"), "iotd.yaml", "/etc/iotd")
	require.NoError(t, err)
	assert.Equal(t, "OUTBOX_iotd_a", cfg.Devices["a"].OutboxStream())
	assert.Equal(t, "OUTBOX_iotd_b", cfg.Devices["b"].OutboxStream())
}

func TestDevicesConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`socket: /run/x.sock
memory_limit: 67108864
log: {level: debug}
devices:
  b-2:
    device_info: b.json
    mqtt: {queue_bytes: 1048576}
  a_1:
    device_info: /abs/a.json
    channel: coap
`), "iotd.yaml", "/etc/iotd")
	require.NoError(t, err)
	nds := cfg.DeviceConfigs()
	require.Len(t, nds, 2)
	assert.Equal(t, "a_1", nds[0].Name, "in name order")
	assert.Equal(t, "/abs/a.json", nds[0].Config.DeviceInfoPath())
	assert.Equal(t, "/etc/iotd/b.json", nds[1].Config.DeviceInfoPath(), "relative to the file's directory")
	assert.Equal(t, "/etc/iotd/iotd-state/a_1", nds[0].Config.StateDirPath())
	assert.Equal(t, "/etc/iotd/iotd-state/b-2", nds[1].Config.StateDirPath())
	assert.Equal(t, "coap", nds[0].Config.Channel)
	assert.Equal(t, "/run/x.sock", cfg.SocketPath())
	assert.Equal(t, "debug", cfg.Log.Level)
	assert.Equal(t, int64(64<<20), cfg.MemoryLimitBytes())
	cfg.MemoryLimit = 0
	assert.Equal(t, int64(16<<20+1<<20+4<<20), cfg.MemoryLimitBytes(), "16 MiB and each device's queue")
	require.NoError(t, cfg.Validate())

	// A single-device file has one device, "default".
	one, err := ParseConfig([]byte("device_info: d.json\n"), "iotd.yaml", "/etc/iotd")
	require.NoError(t, err)
	require.Len(t, one.DeviceConfigs(), 1)
	assert.Equal(t, DefaultDeviceName, one.DeviceConfigs()[0].Name)
	assert.Nil(t, one.Devices)
}

// Two devices with different files but the same identity are refused
// when the daemon loads them.
func TestDevicesSameIdentity(t *testing.T) {
	hub := startHub(t, nil)
	cfg, dir := multiConfig(t, hub, "",
		multiDevice{name: "a", pid: "PMULTI0005", dn: "twin"},
		multiDevice{name: "b", pid: "PMULTI0005", dn: "other"})
	b, err := os.ReadFile(filepath.Join(dir, "a.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.json"), b, 0o600))
	_, err = New(cfg, testRegistry(t), nil)
	require.Error(t, err)
	var ce *core.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "devices.b.device_info", ce.Field)
	assert.Contains(t, err.Error(), "devices a and b are the same device PMULTI0005twin")
}

// CheckConnect and FirstContact check every device, each named.
func TestDevicesCheck(t *testing.T) {
	hub := startHub(t, nil)
	cfg, _ := multiConfig(t, hub, "",
		multiDevice{name: "a", pid: "PMULTI0006", dn: "a"},
		multiDevice{name: "b", pid: "PMULTI0006", dn: "b"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := New(cfg, testRegistry(t), slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)))
	require.NoError(t, err)
	require.NoError(t, d.CheckConnect(ctx))

	d, err = New(cfg, testRegistry(t), nil)
	require.NoError(t, err)
	var out strings.Builder
	require.NoError(t, d.FirstContact(ctx, &out))
	assert.Contains(t, out.String(), "device a (PMULTI0006a):\n")
	assert.Contains(t, out.String(), "device b (PMULTI0006b):\n")
	assert.Equal(t, 2, strings.Count(out.String(), "connected: the hub accepted the device"), out.String())

	// A device the hub refuses fails the check, named.
	require.NoError(t, os.WriteFile(cfg.Devices["b"].DeviceInfoPath(), []byte(fmt.Sprintf(
		`{"auth_mode":"KEY","productId":"PMULTI0006","deviceName":"nobody","key_deviceinfo":{"deviceSecret":"%s"}}`, "c2VjcmV0")), 0o600))
	d, err = New(cfg, testRegistry(t), nil)
	require.NoError(t, err)
	err = d.CheckConnect(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "device b: ")
	assert.NotContains(t, err.Error(), "device a: ")
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}
