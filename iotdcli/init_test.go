package iotdcli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/daemon"
	"github.com/iotd/iotd/internal/pki"
)

// iotdInit runs `iotd init` in this process with stdin and returns what it
// printed.
func iotdInit(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"init"}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	return out.String(), err
}

const testSecret = "aW90ZC1pbml0LXNlY3JldC0x"

func assertPrivate(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), path)
}

func TestInitKeyDevice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	out, err := iotdInit(t, testSecret+"\n", "--product-id", "PINIT00001", "--device-name", "dev1", "--secret", "-",
		"--region", "us-east", "--dir", dir, "--no-check")
	require.NoError(t, err)
	assertPrivate(t, filepath.Join(dir, "device_info.json"))
	assertPrivate(t, filepath.Join(dir, "iotd.yaml"))
	assert.NotContains(t, out, testSecret, "the secret is never printed")
	assert.Contains(t, out, "next: iotd run --check --connect -c "+filepath.Join(dir, "iotd.yaml"))
	assert.NotContains(t, out, "[ok]", "--no-check does not connect")

	info, err := core.LoadDeviceInfo(filepath.Join(dir, "device_info.json"))
	require.NoError(t, err)
	assert.Equal(t, core.AuthKey, info.AuthMode)
	assert.Equal(t, "PINIT00001", info.ProductID)
	assert.Equal(t, "dev1", info.DeviceName)
	assert.Equal(t, "us-east", info.Region)
	assert.Equal(t, testSecret, info.KeyDeviceInfo.DeviceSecret)

	cfg, err := daemon.LoadConfig(filepath.Join(dir, "iotd.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "mqtt", cfg.Channel)
	assert.Empty(t, cfg.Link.Endpoint, "the region's endpoint is iotd's default")
	assert.Equal(t, filepath.Join(dir, "device_info.json"), cfg.DeviceInfoPath())
	yaml, err := os.ReadFile(filepath.Join(dir, "iotd.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(yaml), "iotd.sample.yaml", "it points to the annotated sample")
	off := false
	cfg.Outbox.Enabled = &off
	d, err := daemon.New(cfg, core.Default, nil)
	require.NoError(t, err)
	assert.Equal(t, "PINIT00001.us-east.iotcloud.tencentdevices.com:8883", d.Contact().Endpoint)
}

func TestInitCertDevice(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("init test CA")
	require.NoError(t, err)
	dev, err := ca.Issue(pki.Options{CommonName: "PINIT00002dev1", Client: true})
	require.NoError(t, err)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "certs"), 0o700))
	certFile, keyFile := filepath.Join(dir, "certs", "dev1.crt"), filepath.Join(dir, "certs", "dev1.key")
	require.NoError(t, dev.Save(certFile, keyFile))
	caFile := filepath.Join(t.TempDir(), "server-ca.pem") // outside dir
	require.NoError(t, os.WriteFile(caFile, ca.CertPEM, 0o600))

	_, err = iotdInit(t, "", "--product-id", "PINIT00002", "--device-name", "dev1", "--cert", certFile, "--key", keyFile,
		"--ca", caFile, "--channel", "websocket", "--dir", dir, "--config", "board.yaml", "--no-check")
	require.NoError(t, err)
	assertPrivate(t, filepath.Join(dir, "device_info.json"))
	assertPrivate(t, filepath.Join(dir, "board.yaml"))
	info, err := core.LoadDeviceInfo(filepath.Join(dir, "device_info.json"))
	require.NoError(t, err)
	assert.Equal(t, core.AuthCert, info.AuthMode)
	assert.Equal(t, "china", info.Region)
	assert.Equal(t, filepath.Join("certs", "dev1.crt"), info.CertDeviceInfo.DevCertFile, "inside the directory: relative, so it can move")
	assert.Equal(t, filepath.Join("certs", "dev1.key"), info.CertDeviceInfo.DevPrivateKeyFile)
	assert.Equal(t, caFile, info.CertDeviceInfo.DevCaFile, "outside: absolute")
	assert.Equal(t, certFile, info.CertFile())
	cfg, err := daemon.LoadConfig(filepath.Join(dir, "board.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "websocket", cfg.Channel)
}

func TestInitNeverOverwrites(t *testing.T) {
	for _, existing := range []string{"iotd.yaml", "device_info.json"} {
		t.Run(existing, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, existing)
			require.NoError(t, os.WriteFile(p, []byte("mine\n"), 0o644))
			_, err := iotdInit(t, "", "--product-id", "PINIT00003", "--device-name", "dev1", "--secret", testSecret, "--dir", dir, "--no-check")
			require.Error(t, err)
			assert.Contains(t, err.Error(), p+" exists")
			assert.Contains(t, err.Error(), "move it away")
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.Equal(t, "mine\n", string(data))
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Len(t, entries, 1, "nothing else is written")
		})
	}
}

func TestInitBadInput(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600))
	base := []string{"--product-id", "PINIT00004", "--device-name", "dev1", "--dir", dir, "--no-check"}
	rows := []struct {
		name string
		args []string
		want string
	}{
		{"unknown region", []string{"--secret", testSecret, "--region", "mars"}, `unknown region "mars": the hub's regions are china, us-east, europe, ap-bangkok`},
		{"no credentials", nil, "give --secret for a key device, or --cert and --key"},
		{"both kinds", []string{"--secret", testSecret, "--cert", "a.crt", "--key", "a.key"}, "not both"},
		{"secret not base64", []string{"--secret", "not*base64"}, "deviceSecret"},
		{"missing certificate", []string{"--cert", filepath.Join(dir, "none.crt"), "--key", filepath.Join(dir, "none.key")}, "--cert and --key must be a PEM certificate"},
		{"ca for a key device", []string{"--secret", testSecret, "--ca", "ca.pem"}, "use --ca-file"},
		{"unknown channel", []string{"--secret", testSecret, "--channel", "pigeon"}, `--channel "pigeon": use mqtt, websocket or coap`},
		{"ca-file not PEM", []string{"--secret", testSecret, "--ca-file", notPEM}, "want a PEM CA certificate"},
		{"config in another directory", []string{"--secret", testSecret, "--config", "sub/iotd.yaml"}, "use --dir"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			_, err := iotdInit(t, "", append(append([]string(nil), base...), row.args...)...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), row.want)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing is written")
		})
	}
}

// init then checks the files with the first-contact walk: against hubsim,
// pointed at with --endpoint and --ca-file.
func TestInitChecksAgainstHubsim(t *testing.T) {
	hub := startHub(t)
	key, err := hub.CreateDevice("PINIT00005", "dev1", false)
	require.NoError(t, err)
	cert, err := hub.CreateDevice("PINIT00005", "dev2", true)
	require.NoError(t, err)

	t.Run("key device", func(t *testing.T) {
		dir := t.TempDir()
		out, err := iotdInit(t, key.KeyDeviceInfo.DeviceSecret, "--product-id", "PINIT00005", "--device-name", "dev1", "--secret", "-",
			"--endpoint", hub.TLSAddr(), "--ca-file", hub.CAFile(), "--dir", dir)
		require.NoError(t, err)
		assert.Contains(t, out, "verified by hubsim CA (ca_file "+hub.CAFile())
		assert.Contains(t, out, "connected: the hub accepted the device")
		assert.Contains(t, out, "next: iotd run -c "+filepath.Join(dir, "iotd.yaml"))
		assert.NotContains(t, out, key.KeyDeviceInfo.DeviceSecret)
	})
	t.Run("certificate device", func(t *testing.T) {
		dir := t.TempDir()
		out, err := iotdInit(t, "", "--product-id", "PINIT00005", "--device-name", "dev2", "--cert", cert.CertFile(), "--key", cert.KeyFile(),
			"--ca", hub.CAFile(), "--endpoint", hub.TLSAddr(), "--dir", dir)
		require.NoError(t, err)
		assert.Contains(t, out, "verified by hubsim CA (devCaFile "+hub.CAFile())
		assert.Contains(t, out, "connected: the hub accepted the device")
	})
	t.Run("wrong secret", func(t *testing.T) {
		dir := t.TempDir()
		out, err := iotdInit(t, "", "--product-id", "PINIT00005", "--device-name", "dev1", "--secret", testSecret,
			"--endpoint", hub.TLSAddr(), "--ca-file", hub.CAFile(), "--dir", dir)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "CONNACK 4")
		assert.Contains(t, out, "deviceSecret")
		assert.Contains(t, out, "the files are written; fix the above, then check again: iotd run --check --connect -c "+filepath.Join(dir, "iotd.yaml"))
		assert.FileExists(t, filepath.Join(dir, "iotd.yaml"))
	})
}
