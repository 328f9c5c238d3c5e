package posix_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/core/driver"
	"github.com/iotd/iotd/drivers/posix"
)

func TestOpenConfig(t *testing.T) {
	rows := []struct {
		name    string
		drv     driver.Driver
		config  string
		wantErr string // exact error text; "" = accepted
	}{
		{"tcp empty", posix.NewTCP(), ``, ""},
		{"tcp null", posix.NewTCP(), `null`, ""},
		{"tcp empty object", posix.NewTCP(), ` {} `, ""},
		{"tcp keepalive", posix.NewTCP(), `{"keepalive":"30s"}`, ""},
		{"tcp keepalive off", posix.NewTCP(), `{"keepalive":"-1s"}`, ""},
		{"tcp keepalive number", posix.NewTCP(), `{"keepalive":30}`, `tcp: config: duration 30: want a string such as "30s"`},
		{"tcp keepalive junk", posix.NewTCP(), `{"keepalive":"soon"}`, `tcp: config: duration "soon": want a string such as "30s" or "1m30s"`},
		{"tcp unknown key", posix.NewTCP(), `{"keep_alive":"1s"}`, `tcp: config: unknown key "keep_alive" (known keys: keepalive)`},
		{"tcp key in wrong case", posix.NewTCP(), `{"KeepAlive":"1s"}`, `tcp: config: unknown key "KeepAlive" (known keys: keepalive)`},
		{"tcp not an object", posix.NewTCP(), `[1]`, "tcp: config: not a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage"},
		{"tcp trailing data", posix.NewTCP(), `{} {}`, "tcp: config: not a JSON object: invalid character '{' after top-level value"},
		{"tls full", posix.NewTLS(), `{"ca_file":"ca.pem","server_name":"hub","cert_file":"c.pem","key_file":"k.pem","insecure_skip_verify":false,"min_version":"1.3","keepalive":"1m"}`, ""},
		{"tls unknown key", posix.NewTLS(), `{"ca_fil":"x"}`, `tls: config: unknown key "ca_fil" (known keys: ca_file, ca_pem, cert_file, insecure_skip_verify, keepalive, key_file, min_version, over, over_config, server_name, system_roots)`},
		{"tls bad version", posix.NewTLS(), `{"min_version":"1.1"}`, `tls: config: min_version: "1.1" is not supported: use "1.2" or "1.3"`},
		{"tls cert without key", posix.NewTLS(), `{"cert_file":"c.pem"}`, `tls: config: cert_file: cert_file and key_file must be set together (the client certificate and its private key)`},
		{"tls wrong type", posix.NewTLS(), `{"insecure_skip_verify":"yes"}`, `tls: config: insecure_skip_verify: want bool, got JSON string`},
		{"udp max", posix.NewUDP(), `{"max_datagram":1472}`, ""},
		{"udp max too big", posix.NewUDP(), `{"max_datagram":70000}`, `udp: config: max_datagram: 70000 is out of range: use 1..65507, or 0 for the maximum`},
		{"udp unknown key", posix.NewUDP(), `{"mtu":1}`, `udp: config: unknown key "mtu" (known keys: max_datagram)`},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			dl, err := row.drv.Open([]byte(row.config))
			if row.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, dl)
				return
			}
			require.Error(t, err)
			assert.Nil(t, dl)
			assert.Equal(t, row.wantErr, err.Error())
			var ce *core.ConfigError
			assert.True(t, errors.As(err, &ce), "want *core.ConfigError, got %T", err)
		})
	}
}

func TestConfigRoundTrip(t *testing.T) {
	in := posix.TLSConfig{CAFile: "ca.pem", MinVersion: "1.3", KeepAlive: posix.Duration(90 * time.Second)}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `{"ca_file":"ca.pem","min_version":"1.3","keepalive":"1m30s"}`, string(b))
	_, err = posix.NewTLS().Open(b)
	require.NoError(t, err)
	b, err = json.Marshal(posix.TCPConfig{})
	require.NoError(t, err)
	assert.Equal(t, `{}`, string(b))
}

// FuzzOpenConfig feeds arbitrary configurations to every driver's Open: it
// must never panic, and must either accept or return a *core.ConfigError.
func FuzzOpenConfig(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `{"keepalive":"30s"}`, `{"ca_file":"x","min_version":"1.3"}`,
		`{"max_datagram":1}`, `{"cert_file":"a"}`, `{"ca_fil":1}`, `[`, `{"keepalive":"1e400h"}`,
		`{"insecure_skip_verify":true,"server_name":"\u0000"}`, `{"max_datagram":-5}`, `{} x`,
	} {
		f.Add([]byte(seed))
	}
	drivers := []driver.Driver{posix.NewTCP(), posix.NewTLS(), posix.NewUDP()}
	f.Fuzz(func(t *testing.T, config []byte) {
		for _, d := range drivers {
			dl, err := d.Open(config)
			if err != nil {
				assert.Nil(t, dl)
				var ce *core.ConfigError
				assert.True(t, errors.As(err, &ce), "%s: want *core.ConfigError, got %T: %v", d.Name(), err, err)
				continue
			}
			assert.NotNil(t, dl)
		}
	})
}
