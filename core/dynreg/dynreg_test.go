package dynreg

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/hubsim"
	"github.com/iotd/iotd/internal/hubtest"
)

func TestSignMatchesOpenSSL(t *testing.T) {
	// printf 'deviceName=device_1234&nonce=1439928322&productId=S3EUVBRJLB&timestamp=1568692235' |
	//   openssl dgst -sha1 -hmac vX6PQqazsGsMyf5SMfs6OA6y | awk '{printf "%s",$2}' | base64
	const want = "ZTc2NWYzYzYxMTM4NjhmODY3YmM2MTJmYTRmNjI4NmZlZGNiYTFkMQ=="
	assert.Equal(t, want, Sign("vX6PQqazsGsMyf5SMfs6OA6y", "device_1234", 1439928322, "S3EUVBRJLB", 1568692235))
}

func TestNeedsRegistration(t *testing.T) {
	tests := []struct {
		name string
		info core.DeviceInfo
		want bool
	}{
		{"key without secret", core.DeviceInfo{AuthMode: "KEY"}, true},
		{"key with placeholder", core.DeviceInfo{AuthMode: "KEY", KeyDeviceInfo: core.KeyDeviceInfo{DeviceSecret: "YOUR_IOT_PSK"}}, true},
		{"no auth mode", core.DeviceInfo{}, true},
		{"key with secret", core.DeviceInfo{AuthMode: "KEY", KeyDeviceInfo: core.KeyDeviceInfo{DeviceSecret: "c2VjcmV0"}}, false},
		{"cert without files", core.DeviceInfo{AuthMode: "CERT"}, true},
		{"cert with files", core.DeviceInfo{AuthMode: "CERT", CertDeviceInfo: core.CertDeviceInfo{DevCertFile: "a.crt", DevPrivateKeyFile: "a.key"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, NeedsRegistration(&tt.info))
		})
	}
	assert.False(t, NeedsRegistration(nil))
}

// setup starts a hub with product pid in the given registration mode and
// writes a device_info.json for pid/dn that holds only the product secret.
func setup(t *testing.T, pid, dn string, s hubsim.DynregSettings) (*hubsim.Hub, string, string) {
	t.Helper()
	hub := hubtest.StartHub(t, nil)
	c := hubsim.NewClient(hub.AdminURL())
	p, err := hub.Store().CreateProduct(pid)
	require.NoError(t, err)
	_, err = c.SetDynreg(context.Background(), pid, s)
	require.NoError(t, err)
	path := writeUnregistered(t, pid, dn, p.ProductSecret)
	return hub, path, p.ProductSecret
}

func writeUnregistered(t *testing.T, pid, dn, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "device_info.json")
	doc := `{"auth_mode":"KEY","productId":"` + pid + `","productSecret":"` + secret + `","deviceName":"` + dn +
		`","key_deviceinfo":{"deviceSecret":"YOUR_IOT_PSK"},"vendor_note":"keep me"}`
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	return path
}

func cfgFor(hub *hubsim.Hub) Config {
	return Config{URL: hubsim.NewClient(hub.AdminURL()).RegisterURL()}
}

func TestRegisterKeyDeviceThenConnect(t *testing.T) {
	hub, path, _ := setup(t, "PDYNKEY001", "dev1", hubsim.DynregSettings{Mode: hubsim.DynregAutocreate})
	info, registered, err := RegisterFile(context.Background(), cfgFor(hub), nil, path, nil)
	require.NoError(t, err)
	assert.True(t, registered)
	assert.Equal(t, core.AuthKey, info.Mode())
	assert.False(t, info.HasProductSecret(), "the product secret is removed by default")

	d, err := hub.Store().Device("PDYNKEY001", "dev1")
	require.NoError(t, err)
	assert.Equal(t, d.Secret, info.KeyDeviceInfo.DeviceSecret)

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"vendor_note": "keep me"`)
	assert.NotContains(t, string(data), "productSecret")
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// The registered identity connects.
	loaded, err := core.LoadDeviceInfo(path)
	require.NoError(t, err)
	dev := hubtest.ConnectAs(t, hub, loaded)
	assert.True(t, dev.Connected())

	// A second start does not register again.
	again, registered, err := RegisterFile(context.Background(), cfgFor(hub), nil, path, nil)
	require.NoError(t, err)
	assert.False(t, registered)
	assert.Equal(t, info.KeyDeviceInfo.DeviceSecret, again.KeyDeviceInfo.DeviceSecret)
}

func TestRegisterCertDeviceKeepsProductSecret(t *testing.T) {
	hub, path, secret := setup(t, "PDYNCERT01", "cam", hubsim.DynregSettings{Mode: hubsim.DynregAutocreate, AuthMode: hubsim.AuthCert})
	cfg := cfgFor(hub)
	cfg.KeepProductSecret = true
	info, registered, err := RegisterFile(context.Background(), cfg, nil, path, nil)
	require.NoError(t, err)
	assert.True(t, registered)
	assert.Equal(t, core.AuthCert, info.Mode())
	assert.Equal(t, secret, info.ProductSecret)

	for _, f := range []string{info.CertFile(), info.KeyFile()} {
		st, err := os.Stat(f)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
		assert.Equal(t, filepath.Dir(path), filepath.Dir(f))
	}
	pair, err := tls.LoadX509KeyPair(info.CertFile(), info.KeyFile())
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	assert.Equal(t, "PDYNCERT01cam", leaf.Subject.CommonName)
	caPEM, err := os.ReadFile(hub.CAFile())
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.NoError(t, err, "the certificate is issued by the hub's CA")

	// The hub accepts the device: TLS with the certificate, then MQTT
	// CONNECT answered with CONNACK 0.
	assert.Equal(t, byte(0), connectCert(t, hub, info, pair, roots))

	_, registered, err = RegisterFile(context.Background(), cfg, nil, path, nil)
	require.NoError(t, err)
	assert.False(t, registered, "a registered cert device is not registered again")
}

func TestRegisterRefused(t *testing.T) {
	tests := []struct {
		name             string
		settings         hubsim.DynregSettings
		pid              string // "" means the hub's product
		secret           string // "" means the right one
		precreate, twice bool
		wantCode         int
	}{
		{"wrong product secret", hubsim.DynregSettings{Mode: hubsim.DynregAutocreate}, "", "AAAAAAAAAAAAAAAAAAAAAAAA", false, false, 1010},
		{"unknown product", hubsim.DynregSettings{Mode: hubsim.DynregAutocreate}, "PNOSUCH001", "", false, false, 1004},
		{"registration off", hubsim.DynregSettings{Mode: hubsim.DynregOff}, "", "", false, false, 1011},
		{"precreate needed", hubsim.DynregSettings{Mode: hubsim.DynregPrecreate}, "", "", false, false, 1020},
		{"already registered", hubsim.DynregSettings{Mode: hubsim.DynregPrecreate}, "", "", true, true, 1021},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub, path, secret := setup(t, "PDYNERR001", "dev", tt.settings)
			if tt.precreate {
				_, err := hub.CreateDevice("PDYNERR001", "dev", false)
				require.NoError(t, err)
			}
			pid := "PDYNERR001"
			if tt.pid != "" {
				pid = tt.pid
			}
			if tt.secret != "" {
				secret = tt.secret
			}
			path = writeUnregistered(t, pid, "dev", secret)
			if tt.twice {
				f, err := Load(path)
				require.NoError(t, err)
				c, err := Register(context.Background(), cfgFor(hub), nil, f.Info, nil)
				require.NoError(t, err, "the pre-created device registers once")
				assert.Equal(t, TypeKey, c.EncryptionType)
			}
			before, err := os.ReadFile(path)
			require.NoError(t, err)
			_, _, err = RegisterFile(context.Background(), cfgFor(hub), nil, path, nil)
			var re *Error
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tt.wantCode, re.Code)
			assert.Contains(t, err.Error(), Explain(tt.wantCode))
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, string(before), string(after), "nothing written")
		})
	}
}

func TestWriteFailureLeavesOldFile(t *testing.T) {
	hub, path, _ := setup(t, "PDYNCRSH01", "dev", hubsim.DynregSettings{Mode: hubsim.DynregAutocreate, AuthMode: hubsim.AuthCert})
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	// The process "dies" at the write: the temp file is written but the
	// rename never happens.
	saveDeviceInfo = func(p string, _ *core.DeviceInfo) error {
		require.NoError(t, os.WriteFile(p+".tmp-partial", []byte(`{"auth_mode":"CE`), 0o600))
		return errors.New("simulated crash before rename")
	}
	t.Cleanup(func() { saveDeviceInfo = core.SaveDeviceInfo })
	_, _, err = RegisterFile(context.Background(), cfgFor(hub), nil, path, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is unchanged")
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after))
	cert, key := CertFileNames("PDYNCRSH01", "dev")
	assert.NoFileExists(t, filepath.Join(filepath.Dir(path), cert), "new certificate files are removed")
	assert.NoFileExists(t, filepath.Join(filepath.Dir(path), key))
	_, err = core.LoadDeviceInfo(path)
	assert.Error(t, err, "the old file still lacks credentials")
}

func TestUndecryptableAnswer(t *testing.T) {
	hub, path, _ := setup(t, "PDYNGARB01", "dev", hubsim.DynregSettings{Mode: hubsim.DynregAutocreate})
	c := hubsim.NewClient(hub.AdminURL())
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, mode := range []string{hubsim.FaultGarbage, hubsim.FaultDown} {
		t.Run(mode, func(t *testing.T) {
			require.NoError(t, c.SetFault(context.Background(), "register", mode))
			_, _, err := RegisterFile(context.Background(), cfgFor(hub), nil, path, nil)
			require.ErrorIs(t, err, ErrBadAnswer)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, string(before), string(after))
		})
	}
}

func TestParseResponse(t *testing.T) {
	const secret = "0123456789abcdefXYZW1234"
	enc := func(s string) string {
		p, err := Encrypt([]byte(s), secret)
		require.NoError(t, err)
		return p
	}
	answer := func(plain string, n int) string {
		b, _ := json.Marshal(Response{Len: n, Payload: enc(plain)})
		return string(b)
	}
	key := `{"encryptionType":2,"psk":"c2VjcmV0c2VjcmV0"}`
	tests := []struct {
		name, body string
		wantPSK    string
		wantErr    error
		wantCode   int
	}{
		{"key", answer(key, len(key)), "c2VjcmV0c2VjcmV0", nil, 0},
		{"len zero means up to NUL", answer(key, 0), "c2VjcmV0c2VjcmV0", nil, 0},
		{"error code", `{"code":1010,"message":"Check signature failed"}`, "", nil, 1010},
		{"not json", `<html>`, "", ErrBadAnswer, 0},
		{"len too big", answer(key, 999), "", ErrBadAnswer, 0},
		{"not base64", `{"code":0,"len":3,"payload":"!!"}`, "", ErrBadAnswer, 0},
		{"unknown type", answer(`{"encryptionType":7}`, 20), "", ErrBadAnswer, 0},
		{"psk missing", answer(`{"encryptionType":2}`, 20), "", ErrBadAnswer, 0},
		{"cert without pem", answer(`{"encryptionType":1,"clientCert":"x","clientKey":"y"}`, 52), "", ErrBadAnswer, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseResponse([]byte(tt.body), secret)
			switch {
			case tt.wantCode != 0:
				var re *Error
				require.ErrorAs(t, err, &re)
				assert.Equal(t, tt.wantCode, re.Code)
			case tt.wantErr != nil:
				assert.ErrorIs(t, err, tt.wantErr)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.wantPSK, c.PSK)
				assert.NotContains(t, c.String(), tt.wantPSK)
			}
		})
	}
	_, err := ParseResponse([]byte(answer(key, len(key))), "short")
	assert.ErrorIs(t, err, ErrBadAnswer)
}

func FuzzParseResponse(f *testing.F) {
	const secret = "0123456789abcdefXYZW1234"
	p, _ := Encrypt([]byte(`{"encryptionType":2,"psk":"c2VjcmV0"}`), secret)
	f.Add([]byte(`{"code":0,"message":"","len":36,"payload":"` + p + `"}`))
	f.Add([]byte(`{"code":1021,"message":"x"}`))
	f.Add([]byte(`{"code":0,"len":-1,"payload":"AAAAAAAAAAAAAAAAAAAAAA=="}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseResponse(body, secret)
		if err == nil {
			assert.Contains(t, []int{TypeKey, TypeCert}, c.EncryptionType)
		}
	})
}

// connectCert sends an MQTT 3.1.1 CONNECT over mutual TLS and returns the
// CONNACK return code.
func connectCert(t *testing.T, hub *hubsim.Hub, info *core.DeviceInfo, pair tls.Certificate, roots *x509.CertPool) byte {
	t.Helper()
	conn, err := tls.Dial("tcp", hub.TLSAddr(), &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}})
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	cred, err := core.MQTTCredentials(info, core.CredentialOptions{})
	require.NoError(t, err)
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	body := append(str("MQTT"), 4, 0x82, 0, 60)
	body = append(body, str(cred.ClientID)...)
	body = append(body, str(cred.Username)...)
	require.Less(t, len(body), 128)
	_, err = conn.Write(append([]byte{0x10, byte(len(body))}, body...))
	require.NoError(t, err)
	ack := make([]byte, 4)
	_, err = io.ReadFull(conn, ack)
	require.NoError(t, err)
	require.Equal(t, byte(0x20), ack[0], "CONNACK")
	return ack[3]
}
