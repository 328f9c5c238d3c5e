package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iotd/iotd/internal/testlog"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
	"github.com/iotd/iotd/localapi"
)

func testRegistry(t *testing.T) *core.Registry { return hubtest.Registry(t) }

func startHub(t *testing.T, now func() time.Time) *hubsim.Hub {
	return hubtest.StartHub(t, now)
}

// deviceDir creates a device in hub and writes its device_info.json (and
// certificate files) into a new directory, returned.
func deviceDir(t *testing.T, hub *hubsim.Hub, pid, dn string, cert bool) string {
	return hubtest.DeviceDir(t, hub, pid, dn, cert)
}

// configFor writes iotd.yaml into dir for a daemon that talks to hub over
// TLS, verifying hubsim's CA, with extra YAML appended.
func configFor(t *testing.T, hub *hubsim.Hub, dir, extra string) *Config {
	t.Helper()
	y := "device_info: device_info.json\nsocket: " + filepath.Join(dir, "iotd.sock") + "\n" +
		hubtest.LinkYAML(hub.TLSAddr(), hub.CAFile()) + extra
	cfg, err := LoadConfig(hubtest.WriteConfig(t, dir, y))
	require.NoError(t, err)
	return cfg
}

type running struct {
	d      *Daemon
	client *localapi.Client
	log    *testlog.Buffer
	stop   func() // stops the daemon and checks that Run returned nil
}

func startDaemon(t *testing.T, cfg *Config) *running {
	t.Helper()
	return startDaemonIn(t, cfg, testRegistry(t))
}

func startDaemonIn(t *testing.T, cfg *Config, reg *core.Registry) *running {
	t.Helper()
	logs := &testlog.Buffer{}
	d, err := New(cfg, reg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	require.NoError(t, err)
	r := &running{d: d, client: localapi.New(cfg.SocketPath()), log: logs}
	r.stop = hubtest.RunReady(t, d.Run, d.Ready())
	return r
}

// waitStatus polls the local API until cond holds.
func (r *running) waitStatus(t *testing.T, what string, cond func(localapi.Status) bool) localapi.Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last localapi.Status
	for time.Now().Before(deadline) {
		st, err := r.client.Status(context.Background())
		if err == nil {
			last = st
			if cond(st) {
				return st
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last status %+v\nlogs:\n%s", what, last, r.log.String())
	return last
}

func connected(st localapi.Status) bool { return st.Link.State == "connected" }

func TestKeyDeviceOverTLSEndToEnd(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PKEY000001", "dev1", false)
	r := startDaemon(t, configFor(t, hub, dir, ""))

	st := r.waitStatus(t, "clock sync", func(st localapi.Status) bool { return connected(st) && !st.LastSync.IsZero() })
	fi, err := os.Stat(filepath.Join(dir, "iotd.sock"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "only the daemon's user may use the API")
	assert.Equal(t, "tls", st.Link.Driver)
	assert.Equal(t, hub.TLSAddr(), st.Link.Endpoint)
	assert.Less(t, st.ClockOffset.Abs(), 5*time.Second, "hub and daemon share this machine's clock")
	assert.Contains(t, st.Subscriptions, "$sys/operation/result/PKEY000001/dev1")

	// Device to hub.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := r.client.Publish(ctx, localapi.PublishRequest{Topic: "event", Payload: `{"t":21.5}`, QoS: 1})
	require.NoError(t, err)
	assert.Equal(t, localapi.Acknowledged, rep.Result)
	topic := rep.Topic
	assert.Equal(t, "PKEY000001/dev1/event", topic)
	require.Eventually(t, func() bool {
		for _, m := range hub.Messages("PKEY000001", "dev1") {
			if m.Topic == topic && m.Payload == `{"t":21.5}` && !m.Denied {
				return true
			}
		}
		return false
	}, 5*time.Second, 20*time.Millisecond)

	// Hub to device, through a local API subscription.
	got := make(chan localapi.Message, 1)
	subCtx, subCancel := context.WithCancel(ctx)
	defer subCancel()
	go func() {
		_ = localapi.Each(r.client.Subscribe(subCtx, "control", 1), func(m localapi.Message) error {
			got <- m
			return fmt.Errorf("one is enough")
		})
	}()
	r.waitStatus(t, "control subscription", func(st localapi.Status) bool {
		for _, s := range st.Subscriptions {
			if s == "PKEY000001/dev1/control" {
				return true
			}
		}
		return false
	})
	require.NoError(t, hub.Publish("PKEY000001/dev1/control", []byte("lights on"), 1))
	select {
	case m := <-got:
		assert.Equal(t, "PKEY000001/dev1/control", m.Topic)
		assert.Equal(t, "lights on", m.Payload)
	case <-ctx.Done():
		t.Fatal("control message not received")
	}

	// Nothing secret reaches the log or the status.
	info, err := core.LoadDeviceInfo(filepath.Join(dir, "device_info.json"))
	require.NoError(t, err)
	assert.NotContains(t, r.log.String(), info.KeyDeviceInfo.DeviceSecret)
	assert.NotContains(t, r.log.String(), ";hmacsha1")
}

func TestCertDeviceOverMutualTLS(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PCERT00001", "dev1", true)
	r := startDaemon(t, configFor(t, hub, dir, ""))
	st := r.waitStatus(t, "connected", connected)
	assert.Equal(t, "CERT", strings.ToUpper(st.AuthMode))
	assert.True(t, hub.Status("PCERT00001", "dev1").Connected)
}

// checkConnect builds a daemon from cfg and returns the first connection
// attempt's outcome.
func checkConnect(t *testing.T, cfg *Config) error {
	t.Helper()
	d, err := New(cfg, testRegistry(t), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return d.CheckConnect(ctx)
}

func TestRefusalsSayWhy(t *testing.T) {
	t.Run("wrong secret", func(t *testing.T) {
		hub := startHub(t, nil)
		dir := deviceDir(t, hub, "PREF000001", "dev1", false)
		p := filepath.Join(dir, "device_info.json")
		info, err := core.LoadDeviceInfo(p)
		require.NoError(t, err)
		info.KeyDeviceInfo.DeviceSecret = "d3Jvbmcgc2VjcmV0IQ=="
		require.NoError(t, core.SaveDeviceInfo(p, info))
		err = checkConnect(t, configFor(t, hub, dir, ""))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "bad username or password")
		assert.Contains(t, err.Error(), "deviceSecret")
		assert.Contains(t, err.Error(), "not an expiry")
	})
	t.Run("expired username", func(t *testing.T) {
		// The hub's clock is two hours ahead of this device's, and the
		// device signs usernames valid for one hour.
		hub := startHub(t, func() time.Time { return time.Now().Add(2 * time.Hour) })
		dir := deviceDir(t, hub, "PREF000002", "dev1", false)
		err := checkConnect(t, configFor(t, hub, dir, "mqtt:\n  username_expiry: 1h\n"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "bad username or password")
		assert.Contains(t, err.Error(), "expired")
		assert.Contains(t, hub.Status("PREF000002", "dev1").LastRefusal.Reason, "expired")
	})
	t.Run("wrong client id", func(t *testing.T) {
		hub := startHub(t, nil)
		dir := deviceDir(t, hub, "PREF000003", "dev1", false)
		p := filepath.Join(dir, "device_info.json")
		info, err := core.LoadDeviceInfo(p)
		require.NoError(t, err)
		info.DeviceName = "nosuchdevice"
		require.NoError(t, core.SaveDeviceInfo(p, info))
		err = checkConnect(t, configFor(t, hub, dir, ""))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "identifier rejected")
		assert.Contains(t, err.Error(), "PREF000003nosuchdevice")
	})
	t.Run("untrusted server certificate", func(t *testing.T) {
		hub := startHub(t, nil)
		dir := deviceDir(t, hub, "PREF000004", "dev1", false)
		cfg := configFor(t, hub, dir, "")
		delete(cfg.Link.DriverConfig, "ca_file") // system roots do not know hubsim's CA
		err := checkConnect(t, cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "certificate")
	})
	t.Run("unreachable host", func(t *testing.T) {
		hub := startHub(t, nil)
		dir := deviceDir(t, hub, "PREF000005", "dev1", false)
		cfg := configFor(t, hub, dir, "")
		cfg.Link.Endpoint = "nonexistent.invalid:8883"
		err := checkConnect(t, cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "nonexistent.invalid")
	})
}

func TestOtherDevicesTopicsRefused(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PACL000001", "dev1", false)
	_, err := hub.CreateDevice("PACL000001", "dev2", false)
	require.NoError(t, err)
	r := startDaemon(t, configFor(t, hub, dir, ""))
	r.waitStatus(t, "connected", connected)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The local API refuses before anything reaches the hub...
	_, err = r.client.Publish(ctx, localapi.PublishRequest{Topic: "PACL000001/dev2/event", Payload: "x", QoS: 1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not belong to this device")
	err = localapi.Each(r.client.Subscribe(ctx, "PACL000001/dev2/#", 0), func(localapi.Message) error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not belong to this device")

	// ...and a feature that asks the uplink directly is refused by the hub.
	_, err = r.d.Bus().CloudSubscribe(ctx, "PACL000001/dev2/control", 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PACL000001/dev2/control")
	assert.Equal(t, int64(1), hub.Status("PACL000001", "dev1").DeniedSubscribes)

	// The session survives both.
	_, err = r.client.Publish(ctx, localapi.PublishRequest{Topic: "event", Payload: "still here", QoS: 1})
	assert.NoError(t, err)
}

func TestBadInputLeavesFilesAlone(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PBAD000001", "dev1", false)
	p := filepath.Join(dir, "device_info.json")
	good, err := os.ReadFile(p)
	require.NoError(t, err)

	tests := []struct {
		name, content, want string
	}{
		{"truncated", string(good[:len(good)/2]), "device_info.json"},
		{"missing field", `{"auth_mode":"KEY","productId":"PBAD000001","key_deviceinfo":{"deviceSecret":"c2VjcmV0"}}`, "deviceName"},
		{"long name", `{"auth_mode":"KEY","productId":"PBAD000001","deviceName":"` + strings.Repeat("n", 53) + `","key_deviceinfo":{"deviceSecret":"c2VjcmV0"}}`, "53 characters, the limit is 48"},
		{"secret not base64", `{"auth_mode":"KEY","productId":"PBAD000001","deviceName":"dev1","key_deviceinfo":{"deviceSecret":"not*base64"}}`, "base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(p, []byte(tt.content), 0o600))
			_, err := New(configFor(t, hub, dir, ""), testRegistry(t), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "\n")
			after, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.Equal(t, tt.content, string(after), "nothing on disk is rewritten")
		})
	}

	require.NoError(t, os.WriteFile(p, good, 0o600))
	cfg := configFor(t, hub, dir, "")
	cfg.Link.Driver = "carrier-pigeon"
	_, err = New(cfg, testRegistry(t), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `link.driver: core: unknown driver "carrier-pigeon" (registered: tcp, tls)`)

	cfg = configFor(t, hub, dir, "")
	cfg.Link.DriverConfig["ca_fil"] = "x"
	_, err = New(cfg, testRegistry(t), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ca_fil")
}
