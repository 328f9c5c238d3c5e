package dtls_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iotd/iotd/core"
	"github.com/iotd/iotd/drivers/posix/dtls"
)

func TestOpenConfig(t *testing.T) {
	rows := []struct {
		name    string
		config  string
		wantErr string // exact text; "" = accepted
	}{
		{"empty", ``, ""},
		{"psk", `{"psk_identity":"PRODUCTIDdev1","psk":"ABEiM0RVZneImaq7zN3u/w==","handshake_timeout":"8s"}`, ""},
		{"certificates", `{"ca_file":"ca.pem","server_name":"hub","cert_file":"c.pem","key_file":"k.pem","max_datagram":1024}`, ""},
		{"unknown key", `{"psk_id":"x"}`, `dtls: config: unknown key "psk_id" (known keys: ca_file, ca_pem, cert_file, handshake_timeout, insecure_skip_verify, key_file, max_datagram, psk, psk_identity, server_name, system_roots)`},
		{"psk not base64", `{"psk_identity":"id","psk":"not base64!"}`, `dtls: config: psk: not valid base64; paste the deviceSecret from device_info.json unchanged`},
		{"psk without identity", `{"psk":"ABEi"}`, `dtls: config: psk_identity: required with psk: set it to the client id (product id followed by device name)`},
		{"identity without psk", `{"psk_identity":"id"}`, `dtls: config: psk: required with psk_identity: set it to the device secret (base64)`},
		{"psk with certificates", `{"psk_identity":"id","psk":"ABEi","ca_file":"ca.pem"}`, `dtls: config: psk: PSK mode excludes ca_file, ca_pem, cert_file, key_file and insecure_skip_verify: configure one mode`},
		{"key without cert", `{"key_file":"k.pem"}`, `dtls: config: cert_file: cert_file and key_file must be set together (the client certificate and its private key)`},
		{"negative timeout", `{"handshake_timeout":"-1s"}`, `dtls: config: handshake_timeout: -1s is negative`},
		{"datagram too big", `{"max_datagram":9000}`, `dtls: config: max_datagram: 9000 is out of range: use 1..8115, or 0 for the maximum`},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			dl, err := dtls.New().Open([]byte(row.config))
			if row.wantErr == "" {
				require.NoError(t, err)
				assert.NotNil(t, dl)
				return
			}
			require.Error(t, err)
			assert.Equal(t, row.wantErr, err.Error())
			var ce *core.ConfigError
			assert.True(t, errors.As(err, &ce))
		})
	}
}

// FuzzOpenConfig: Open never panics, and fails only with a
// *core.ConfigError that does not repeat the psk value.
func FuzzOpenConfig(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"psk_identity":"a","psk":"ABEi"}`, `{"psk":"%%%"}`, `{"handshake_timeout":"1h"}`,
		`{"max_datagram":-1}`, `{"ca_file":"x","psk":"AA=="}`, `{"psk_identity":"a","psk":""}`, `nul`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, config []byte) {
		dl, err := dtls.New().Open(config)
		if err != nil {
			assert.Nil(t, dl)
			var ce *core.ConfigError
			assert.True(t, errors.As(err, &ce), "want *core.ConfigError, got %T: %v", err, err)
			return
		}
		assert.NotNil(t, dl)
	})
}
