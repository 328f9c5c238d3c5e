package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/websocket"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/pki"
)

// firstContact runs the walk for cfg and returns what it printed.
func firstContact(t *testing.T, cfg *Config) (string, error) {
	t.Helper()
	off := false
	cfg.Outbox.Enabled = &off // as iotd run --check does
	d, err := New(cfg, testRegistry(t), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err = d.FirstContact(ctx, &out)
	t.Logf("walk:\n%s", out.String())
	return out.String(), err
}

// failedAt checks that the walk failed at step, printing the FAIL line and
// its fix, and returns the error.
func failedAt(t *testing.T, out string, err error, step string) *FirstContactError {
	t.Helper()
	var fe *FirstContactError
	require.True(t, errors.As(err, &fe), "want a *FirstContactError, got %v", err)
	assert.Equal(t, step, fe.Step)
	assert.Contains(t, out, "[FAIL] "+step)
	assert.Contains(t, out, "       fix: "+fe.Fix)
	assert.NotContains(t, out, "connected: the hub accepted")
	return fe
}

func TestFirstContactKeyDevice(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PWALK00001", "dev1", false)
	out, err := firstContact(t, configFor(t, hub, dir, ""))
	require.NoError(t, err)
	for _, want := range []string{
		"[ok]   config   " + filepath.Join(dir, "iotd.yaml"),
		"[ok]   identity PWALK00001dev1: key device, username signed with hmacsha1 (never expires)",
		"[ok]   endpoint " + hub.TLSAddr() + ", mqtt over tls, from link.endpoint in",
		"trust: ca_file " + hub.CAFile(),
		"[ok]   dns      127.0.0.1 is an address",
		"[ok]   tcp      127.0.0.1:",
		"[ok]   tls      TLS 1.3",
		"issued by CN=hubsim CA,O=iotd",
		"verified by hubsim CA (ca_file " + hub.CAFile(),
		"[ok]   mqtt     CONNACK accepted: client id PWALK00001dev1, username never expires",
		"[ok]   clock    this clock is",
		"connected: the hub accepted the device\n",
	} {
		assert.Contains(t, out, want)
	}
	info, err := core.LoadDeviceInfo(filepath.Join(dir, "device_info.json"))
	require.NoError(t, err)
	assert.NotContains(t, out, info.KeyDeviceInfo.DeviceSecret)
	assert.NotContains(t, out, ";hmacsha1", "no password in the output")
}

func TestFirstContactCertDevice(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PWALK00002", "dev1", true)
	cfg := configFor(t, hub, dir, "")
	delete(cfg.Link.DriverConfig, "ca_file") // trust comes from devCaFile
	out, err := firstContact(t, cfg)
	require.NoError(t, err)
	for _, want := range []string{
		"PWALK00002dev1: certificate device",
		"certificate " + filepath.Join(dir, "dev1.crt") + ": CN=PWALK00002dev1",
		"trust: devCaFile",
		"verified by hubsim CA (devCaFile",
		"client certificate sent; under TLS 1.3",
		"[ok]   mqtt     CONNACK accepted",
		"connected: the hub accepted the device",
	} {
		assert.Contains(t, out, want)
	}
}

// Plain MQTT (driver tcp, port 1883 on the hub): no TLS step, nothing to
// trust.
func TestFirstContactPlainTCP(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PWALK00006", "dev1", false)
	cfg := configFor(t, hub, dir, "")
	cfg.Link.Driver, cfg.Link.Endpoint, cfg.Link.DriverConfig = "tcp", hub.TCPAddr(), nil
	out, err := firstContact(t, cfg)
	require.NoError(t, err)
	assert.Contains(t, out, "mqtt over tcp")
	assert.Contains(t, out, "trust: none: plain TCP")
	assert.Contains(t, out, "[ok]   tcp ")
	assert.NotContains(t, out, "[ok]   tls")
	assert.Contains(t, out, "[ok]   mqtt     CONNACK accepted")
}

// A link driver that is not plain tls or tcp does DNS, TCP and TLS itself:
// here TLS over the tcp driver, as over a modem.
func TestFirstContactThroughDriver(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PWALK00003", "dev1", false)
	cfg := configFor(t, hub, dir, "")
	cfg.Link.DriverConfig["over"] = "tcp"
	out, err := firstContact(t, cfg)
	require.NoError(t, err)
	assert.Contains(t, out, "[ok]   connect  through driver tls over tcp: 127.0.0.1:")
	assert.NotContains(t, out, "[ok]   dns")
	assert.Contains(t, out, "[ok]   mqtt     CONNACK accepted")
	assert.Contains(t, out, "connected: the hub accepted the device")

	delete(cfg.Link.DriverConfig, "ca_file") // the bundled hub CAs: not hubsim's
	out, err = firstContact(t, cfg)
	fe := failedAt(t, out, err, "connect")
	assert.Contains(t, fe.Msg, "through driver tls over tcp to "+hub.TLSAddr())
	assert.Contains(t, fe.Fix, "not from a Tencent IoT Hub CA bundled with iotd")
}

// MQTT over WebSocket over TLS (wss): the websocket driver dials, then
// MQTT runs over its connection.
func TestFirstContactWebSocket(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	hub, err := hubsim.Start(ctx, hubsim.Config{
		StateDir: t.TempDir(), TLSAddr: hubsim.Off, TCPAddr: hubsim.Off, AdminAddr: "127.0.0.1:0",
		WSSAddr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hub.Close() })
	dir := deviceDir(t, hub, "PWALK00005", "dev1", false)
	cfg := configFor(t, hub, dir, "channel: websocket\n")
	cfg.Link.Endpoint = hub.WSSAddr()
	off := false
	cfg.Outbox.Enabled = &off
	reg := testRegistry(t)
	require.NoError(t, reg.Register(websocket.NewIn(reg)))
	d, err := New(cfg, reg, nil)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, d.FirstContact(ctx, &out), out.String())
	assert.Contains(t, out.String(), "[ok]   endpoint "+hub.WSSAddr()+", mqtt over websocket over tls")
	assert.Contains(t, out.String(), "[ok]   connect  through driver websocket over tls: ")
	assert.Contains(t, out.String(), "[ok]   mqtt     CONNACK accepted")
}

// The CoAP channel has no CONNECT: after the configuration, identity and
// endpoint, the session-level check decides.
func TestFirstContactCoAP(t *testing.T) {
	hub := startHub(t, nil)
	dir := deviceDir(t, hub, "PWALK00004", "dev1", false)
	d, err := New(coapConfigFor(t, dir, hub.CoAPAddr(), ""), coapRegistry(t), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, d.FirstContact(ctx, &out), out.String())
	assert.Contains(t, out.String(), "coap over dtls")
	assert.Contains(t, out.String(), "[ok]   coap     the hub accepted the device (CoAP auth over dtls)")
	assert.NotContains(t, out.String(), "[ok]   mqtt")

	setSecret(t, dir, "d3Jvbmcgc2VjcmV0IQ==")
	cfg := coapConfigFor(t, dir, hub.CoAPAddr(), "")
	cfg.Link.DialTimeout = time.Second // the hub does not answer a wrong PSK
	d, err = New(cfg, coapRegistry(t), nil)
	require.NoError(t, err)
	out.Reset()
	err = d.FirstContact(ctx, &out)
	fe := failedAt(t, out.String(), err, "coap")
	assert.Contains(t, fe.Fix, "deviceSecret")
}

func TestFirstContactFailures(t *testing.T) {
	hub := startHub(t, nil)
	otherCA, err := pki.NewCA("someone else's CA")
	require.NoError(t, err)
	otherCAFile := filepath.Join(t.TempDir(), "other-ca.pem")
	require.NoError(t, os.WriteFile(otherCAFile, otherCA.CertPEM, 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := ln.Addr().String()
	require.NoError(t, ln.Close())

	rows := []struct {
		name    string
		pid     string
		cert    bool
		setup   func(t *testing.T, dir string, cfg *Config)
		step    string
		msg     []string
		fix     []string
		printed []string // in the output
	}{
		{
			name: "name does not resolve", pid: "PFAIL00001",
			setup: func(t *testing.T, _ string, cfg *Config) { cfg.Link.Endpoint = "nonexistent.invalid:8883" },
			step:  "dns", msg: []string{"nonexistent.invalid does not resolve"},
			fix: []string{"link.endpoint", "DNS"},
		},
		{
			name: "port closed", pid: "PFAIL00002",
			setup: func(t *testing.T, _ string, cfg *Config) { cfg.Link.Endpoint = closedPort },
			step:  "tcp", msg: []string{closedPort + " refused the connection", "nothing listens"},
			fix: []string{"port of link.endpoint", "8883"},
		},
		{
			name: "server signed by a CA outside ca_file", pid: "PFAIL00003",
			setup: func(t *testing.T, _ string, cfg *Config) { cfg.Link.DriverConfig["ca_file"] = otherCAFile },
			step:  "tls", msg: []string{`chain ends in "CN=hubsim CA,O=iotd", a CA outside the trust (ca_file ` + otherCAFile},
			fix:     []string{"point it at the CA that signed"},
			printed: []string{"[FAIL] tls      the server's certificate chain ends in", "\n                the server sent:\n                server: CN=hubsim,O=iotd, issued by CN=hubsim CA,O=iotd"},
		},
		{
			name: "not the real hub, bundled trust", pid: "PFAIL00004",
			setup: func(t *testing.T, _ string, cfg *Config) { delete(cfg.Link.DriverConfig, "ca_file") },
			step:  "tls", msg: []string{"a CA outside the trust (the Tencent IoT Hub CAs bundled with iotd)"},
			fix: []string{"the server's certificate is not from a Tencent IoT Hub CA bundled with iotd", "if this endpoint is not the real hub, set ca_file"},
		},
		{
			name: "server signed by another CA of the same name", pid: "PFAIL00011",
			setup: func(t *testing.T, dir string, cfg *Config) {
				twin, err := pki.NewCA("hubsim CA")
				require.NoError(t, err)
				p := filepath.Join(dir, "twin-ca.pem")
				require.NoError(t, os.WriteFile(p, twin.CertPEM, 0o600))
				cfg.Link.DriverConfig["ca_file"] = p
			},
			step: "tls", msg: []string{`chain ends in "CN=hubsim CA,O=iotd", a CA outside the trust`, "holds a CA of that name, but not the one that signed this chain"},
			fix: []string{"point it at the CA that signed"},
		},
		{
			name: "server name mismatch", pid: "PFAIL00005",
			setup: func(t *testing.T, _ string, cfg *Config) { cfg.Link.DriverConfig["server_name"] = "hub.example" },
			step:  "tls", msg: []string{"the server's certificate is for localhost, 127.0.0.1, ::1, not hub.example"},
			fix: []string{"set server_name"},
		},
		{
			name: "client certificate refused after the handshake", pid: "PFAIL00006", cert: true,
			setup: func(t *testing.T, dir string, _ *Config) { strangeCertificate(t, dir, "PFAIL00006", "dev1") },
			step:  "mqtt", msg: []string{"closed the connection instead of answering CONNECT", "certificate"},
			fix:     []string{"the hub refused the client certificate", "devCertFile and devPrivateKeyFile", "not expired or revoked"},
			printed: []string{"[ok]   tls      TLS 1.3", "client certificate sent"},
		},
		{
			name: "client certificate the hub does not ask for", pid: "PFAIL00007", cert: true,
			setup: func(t *testing.T, dir string, _ *Config) {
				other, err := otherCA.Issue(pki.Options{CommonName: "PFAIL00007dev1", Client: true})
				require.NoError(t, err)
				require.NoError(t, other.Save(filepath.Join(dir, "dev1.crt"), filepath.Join(dir, "dev1.key")))
			},
			step: "mqtt", msg: []string{"CONNACK 5 (not authorized)"},
			fix: []string{"did not accept a client certificate for PFAIL00007dev1", "devCertFile"},
		},
		{
			name: "wrong secret", pid: "PFAIL00008",
			setup: func(t *testing.T, dir string, _ *Config) { setSecret(t, dir, "d3Jvbmcgc2VjcmV0IQ==") },
			step:  "mqtt", msg: []string{"CONNACK 4 (bad username or password)"},
			fix: []string{"deviceSecret", "is wrong", "not an expiry"},
		},
		{
			name: "wrong secret, expiring username", pid: "PFAIL00009",
			setup: func(t *testing.T, dir string, cfg *Config) {
				setSecret(t, dir, "d3Jvbmcgc2VjcmV0IQ==")
				cfg.MQTT.UsernameExpiry = time.Hour
			},
			step: "mqtt", msg: []string{"CONNACK 4", "a username that never expires was refused too, so it is not the clock"},
			fix: []string{"key_deviceinfo.deviceSecret", "is wrong"},
		},
		{
			name: "unknown device", pid: "PFAIL00010",
			setup: func(t *testing.T, dir string, _ *Config) {
				p := filepath.Join(dir, "device_info.json")
				info, err := core.LoadDeviceInfo(p)
				require.NoError(t, err)
				info.DeviceName = "nosuchdevice"
				require.NoError(t, core.SaveDeviceInfo(p, info))
			},
			step: "mqtt", msg: []string{"CONNACK 2 (identifier rejected)"},
			fix: []string{`client id "PFAIL00010nosuchdevice"`, "productId and deviceName"},
		},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			dir := deviceDir(t, hub, row.pid, "dev1", row.cert)
			cfg := configFor(t, hub, dir, "")
			row.setup(t, dir, cfg)
			out, err := firstContact(t, cfg)
			fe := failedAt(t, out, err, row.step)
			for _, m := range row.msg {
				assert.Contains(t, fe.Msg, m)
			}
			for _, f := range row.fix {
				assert.Contains(t, fe.Fix, f)
			}
			for _, p := range row.printed {
				assert.Contains(t, out, p)
			}
			assert.Contains(t, err.Error(), row.msg[0], "the error repeats the message")
		})
	}
}

func setSecret(t *testing.T, dir, secret string) {
	t.Helper()
	p := filepath.Join(dir, "device_info.json")
	info, err := core.LoadDeviceInfo(p)
	require.NoError(t, err)
	info.KeyDeviceInfo.DeviceSecret = secret
	require.NoError(t, core.SaveDeviceInfo(p, info))
}

// The hub's clock is two hours ahead of this one.
func TestFirstContactClockSkew(t *testing.T) {
	hub := startHub(t, func() time.Time { return time.Now().Add(2 * time.Hour) })

	t.Run("reported", func(t *testing.T) {
		dir := deviceDir(t, hub, "PSKEW00001", "dev1", false)
		out, err := firstContact(t, configFor(t, hub, dir, ""))
		require.NoError(t, err)
		assert.Contains(t, out, "[warn] clock    this clock is")
		assert.Regexp(t, `this clock is 2h0m0s behind the hub's|this clock is 1h59m59s behind the hub's`, out)
		assert.Contains(t, out, "TLS checks certificates against this clock")
		assert.Contains(t, out, "connected: the hub accepted the device (1 warning above)")
	})
	t.Run("close to the username's expiry", func(t *testing.T) {
		dir := deviceDir(t, hub, "PSKEW00002", "dev1", false)
		out, err := firstContact(t, configFor(t, hub, dir, "mqtt:\n  username_expiry: 3h\n"))
		require.NoError(t, err)
		assert.Contains(t, out, "[warn] clock")
		assert.Contains(t, out, "little margin")
	})
	t.Run("beyond the username's expiry", func(t *testing.T) {
		dir := deviceDir(t, hub, "PSKEW00003", "dev1", false)
		out, err := firstContact(t, configFor(t, hub, dir, "mqtt:\n  username_expiry: 1h\n"))
		fe := failedAt(t, out, err, "mqtt")
		assert.Contains(t, fe.Msg, "CONNACK 4")
		assert.Contains(t, fe.Msg, "the signed username had expired on the hub's clock")
		assert.Contains(t, fe.Msg, "so the device secret is right")
		assert.Contains(t, fe.Msg, "behind the hub's, and mqtt.username_expiry is 1h0m0s")
		assert.Contains(t, fe.Fix, "set this host's clock")
		assert.True(t, strings.HasPrefix(err.Error(), "first contact failed at mqtt: "))
	})
}
