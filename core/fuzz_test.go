package core

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The seed corpora run in every `go test`; `go test -fuzz=FuzzX ./core`
// explores further.

func FuzzParseDeviceInfo(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "device_info.json"))
	require.NoError(f, err)
	require.NotEmpty(f, files)
	for _, p := range files {
		data, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	for _, s := range []string{
		`{}`, `[]`, `null`, `"x"`, `{"auth_mode":"KEY"`,
		`{"auth_mode":"key","productId":"P","deviceName":"d","key_deviceinfo":{"deviceSecret":"QUFB","x":1},"z":[{}]}`,
		`{"auth_mode":"CERT","productId":"P","deviceName":"d","cert_deviceinfo":{"devCertFile":"c","devPrivateKeyFile":"k","devCaFile":"a"}}`,
		`{"auth_mode":"KEY","productId":"P","deviceName":"d","key_deviceinfo":{"deviceSecret":"QUFB"},"subDev":{"subdev_num":1,"subdev_list":[{"sub_productId":"Q","sub_devName":"s","n":null}]}}`,
		`{"productId":"P","productId":"Q"}`, "\xef\xbb\xbf{}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDeviceInfo(data, "")
		if err != nil {
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			return
		}
		// Accepted: what SaveDeviceInfo would write parses to the same
		// identity, and writing that again gives the same bytes.
		out, _, err := d.encode()
		require.NoError(t, err)
		d2, err := ParseDeviceInfo(out, "")
		require.NoError(t, err, "re-parse of\n%s", out)
		assert.Equal(t, publicFields(d), publicFields(d2))
		out2, _, err := d2.encode()
		require.NoError(t, err)
		assert.Equal(t, string(out), string(out2))
		assert.Equal(t, d.ProductID+d.DeviceName, d.ClientID())
		if !d.IsCert() {
			key, err := d.SecretKey()
			require.NoError(t, err)
			assert.NotEmpty(t, key)
		}
	})
}

func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{
		vectorUsername, "Pd;1;abcde;0", "P1dev:1-x;12010126;ZZZZZ;2147483647",
		"", ";;;", "a;b;c;d", "Pdev;1;abcde;05", "Pdev;1;abcde;-1", "Pdev;1;abcde;9223372036854775808",
		"Pdev;1;abcde;1;", "Pdev;1;abc\x00e;1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUsername(s)
		if err != nil {
			assert.Equal(t, Username{}, u)
			return
		}
		assert.Equal(t, s, u.String(), "accepted usernames reserialise unchanged")
		u2, err := ParseUsername(u.String())
		require.NoError(t, err)
		assert.Equal(t, u, u2)
	})
}

func FuzzVerifyPassword(f *testing.F) {
	key := []byte(testSecretRaw)
	f.Add(key, vectorUsername, vectorSHA256+";hmacsha256")
	f.Add(key, vectorUsername, vectorSHA1+";hmacsha1")
	f.Add(key, vectorUsername, vectorSHA1+";hmacsha256")
	f.Add(key, vectorUsername, "")
	f.Add(key, vectorUsername, ";")
	f.Add([]byte{}, "", ";hmacsha1")
	f.Add([]byte{0}, "u", "zz;hmacsha256")
	f.Fuzz(func(t *testing.T, secret []byte, username, password string) {
		err := VerifyPassword(secret, username, password)
		if err == nil {
			// Accepted means it is exactly what SignUsername produces for
			// one of the methods.
			assert.True(t, password == SignUsername(secret, username, HMACSHA256) ||
				password == SignUsername(secret, username, HMACSHA1), password)
		}
		if len(secret) > 0 {
			for _, m := range []SignMethod{HMACSHA256, HMACSHA1} {
				assert.NoError(t, VerifyPassword(secret, username, SignUsername(secret, username, m)))
			}
		}
	})
}
